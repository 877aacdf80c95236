// The shapes the policy engine takes in and hands out. Decisions are values: callers
// branch on `effect`; exceptions are kept for broken policy files.
import type { Risk, ToolAnnotations } from '../../tools/define-tool.js';

export type Effect = 'allow' | 'deny' | 'require_approval';
export const EFFECTS: readonly Effect[] = ['allow', 'deny', 'require_approval'];

export interface PolicyPrincipal {
  id: string;
  roles: string[];
  /**
   * The authenticated principal whose request this acts on, when another principal acts
   * (an alert run acts as `agent:alerts` for the token that posted the alert). It never
   * changes what the policy sees, and it can never approve what the run asks for.
   */
  requester?: string;
}

/** One proposed tool call as the policy sees it. */
export interface PolicyRequest {
  /** `roles` given here are joined with the roles the policy set's `roles:` map gives this id. */
  principal: { id: string; roles?: string[] };
  tool: { name: string } & ToolAnnotations;
  /** `staging`, `production` or `none`. */
  environment: string;
  /** The validated tool arguments. */
  input: Record<string, unknown>;
  risk: Risk;
}

/**
 * Who may approve a parked call: `count` distinct principals, each holding at least one
 * of `roles`; with `eachRole`, every listed role must also be held by one of them (an ML
 * lead AND a risk officer, not two ML leads).
 */
export interface ApprovalRequirement {
  roles: string[];
  count: number;
  expiresInMs: number;
  eachRole?: boolean;
}

export interface Decision {
  effect: Effect;
  /** The rule that decided; null when no rule matched (the default deny). */
  ruleId: string | null;
  /** Human-readable, written for the operator and the model alike. */
  reason: string;
  /** Name of the policy set that decided. */
  policy: string;
  /** Present exactly when effect is `require_approval`. */
  approval?: ApprovalRequirement;
  /** Present when a condition failed to evaluate and the call was denied for it (fail closed). */
  error?: string;
}

/** A rule after loading: its condition already parsed and planned. */
export interface CompiledRule {
  id: string;
  /** Tool names the rule covers; `['*']` covers every tool. */
  tools: readonly string[];
  /** The CEL source, or null when the rule has no `when` (always true). */
  when: string | null;
  effect: Effect;
  reason: string;
  approval?: ApprovalRequirement;
  file: string;
  line: number;
}

export type RuleOutcome =
  { kind: 'tool_not_covered' } | { kind: 'condition_false' } | { kind: 'error'; error: string } | { kind: 'matched' };

export interface ExplainedRule {
  ruleId: string;
  file: string;
  line: number;
  outcome: RuleOutcome;
}

export interface Explanation {
  decision: Decision;
  /** The request as the conditions saw it (principal roles already joined). */
  principal: PolicyPrincipal;
  tool: string;
  environment: string;
  /** Every rule up to and including the deciding one, in evaluation order. */
  rules: ExplainedRule[];
  /** Rules after the deciding one, which were never evaluated. */
  notEvaluated: number;
}

export interface PolicySet {
  name: string;
  files: string[];
  rules: readonly CompiledRule[];
  /** Roles the set's `roles:` map gives a principal id (union over all files). */
  rolesOf(principalId: string): string[];
  /** Role name -> principal ids, merged over all files. */
  roles: ReadonlyMap<string, readonly string[]>;
  evaluate(req: PolicyRequest): Decision;
  explain(req: PolicyRequest): Explanation;
}
