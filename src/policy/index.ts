// The policy room's door: load operator-edited policy files, evaluate requests, explain decisions.
export type {
  ApprovalRequirement,
  CompiledRule,
  Decision,
  Effect,
  ExplainedRule,
  Explanation,
  PolicyPrincipal,
  PolicyRequest,
  PolicySet,
  RuleOutcome,
} from './types.js';
export { EFFECTS } from './types.js';
export { buildPolicySet, loadPolicySet, PolicyInvalidError } from './load-policy-set.js';
export type { LoadPolicyOptions, PolicyIssue } from './load-policy-set.js';
export { evaluateWithShadow } from './policy-set.js';
export { formatDecision, formatExplanation } from './format-explanation.js';
export { createPolicyStore } from './policy-store.js';
export type { PolicyStore, PolicyStoreOptions, ReloadResult } from './policy-store.js';
export { formatDuration, parseDuration } from './duration.js';
export { API_VERSION } from './policy-file.js';
export { explainedDecision, policyRequestFor, refusedBy } from './call-request.js';
