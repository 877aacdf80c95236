// How one tool call becomes a policy request, and how a refusal is worded: shared by the
// gate and `policy explain`, so the explanation is the gate's own decision.
import type { Risk, ToolAnnotations } from '../../tools/define-tool.js';
import type { Decision, PolicyPrincipal, PolicyRequest } from './types.js';

/** The request the policy judges: the environment is the call's own argument, else the risk's. */
export function policyRequestFor(
  tool: { name: string; annotations: ToolAnnotations },
  args: Record<string, unknown>,
  principal: PolicyPrincipal,
  risk: Risk,
): PolicyRequest {
  const environment = typeof args.environment === 'string' ? args.environment : risk.environment;
  return { principal, tool: { name: tool.name, ...tool.annotations }, environment, input: args, risk };
}

/**
 * A decision that does not allow the call, told in terms a person can act on: the rule's
 * reason, and when the candidate failed quality gates, which ones with the measured value
 * against the bound (`auc 0.48 < 0.82`). Allowed calls are returned as they are.
 */
export function explainedDecision(decision: Decision, risk: Risk): Decision {
  if (decision.effect === 'allow' || risk.failedQualityGates.length === 0) return decision;
  const figures = risk.qualityGateFailures.length ? risk.qualityGateFailures : risk.failedQualityGates;
  return { ...decision, reason: `${decision.reason} (failed quality gates: ${figures.join(', ')})` };
}

/** Who or what refused, in one phrase: the rule, the policy's default deny, or the gate itself. */
export function refusedBy(decision: Decision): string {
  if (decision.ruleId) return `policy rule ${decision.ruleId} (${decision.policy})`;
  if (decision.policy === '(gate)') return 'the gate itself, not a policy rule';
  if (decision.policy === '(approval)') return 'the approval process, not a policy rule';
  return `policy ${decision.policy} (no rule matched: the default deny)`;
}
