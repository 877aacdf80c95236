// Evaluation of a loaded policy set: first matching rule wins, no match denies, and any
// error in a condition denies too (fail closed), naming the rule and the error.
import { toCelMap, type ConditionContext } from './cel-condition.js';
import type { LoadedRule } from './policy-file.js';
import { renderReason } from './reason-template.js';
import type { Decision, ExplainedRule, Explanation, PolicyRequest, PolicySet, RuleOutcome } from './types.js';

interface RunnableRule {
  rule: LoadedRule;
  /** null covers every tool */
  tools: ReadonlySet<string> | null;
}

export function createPolicySet(spec: {
  name: string;
  files: string[];
  rules: LoadedRule[];
  roles: Map<string, string[]>;
}): PolicySet {
  const { name } = spec;
  const runnable: RunnableRule[] = spec.rules.map((rule) => ({
    rule,
    tools: rule.tools.includes('*') ? null : new Set(rule.tools),
  }));
  // Inverted once so a request does not scan every role.
  const rolesByPrincipal = new Map<string, string[]>();
  for (const [role, members] of spec.roles) {
    for (const member of members) rolesByPrincipal.set(member, [...(rolesByPrincipal.get(member) ?? []), role]);
  }
  const rolesOf = (principalId: string): string[] => [...(rolesByPrincipal.get(principalId) ?? [])];

  function principalRoles(req: PolicyRequest): string[] {
    const given = req.principal.roles ?? [];
    const declared = rolesByPrincipal.get(req.principal.id);
    if (!declared) return [...new Set(given)];
    return [...new Set([...given, ...declared])];
  }

  function buildContext(req: PolicyRequest, roles: string[]): ConditionContext | { error: string } {
    try {
      if (req.input === null || typeof req.input !== 'object' || Array.isArray(req.input)) {
        return { error: 'the tool input is not an object of named arguments' };
      }
      const t = req.tool;
      return {
        principal: new Map<string, unknown>([
          ['id', req.principal.id],
          ['roles', roles],
        ]),
        tool: new Map<string, unknown>([
          ['name', t.name],
          ['readOnly', t.readOnly],
          ['destructive', t.destructive],
          ['idempotent', t.idempotent],
          ['openWorld', t.openWorld],
        ]),
        environment: req.environment,
        input: toCelMap(req.input, 'input'),
        risk: toCelMap(req.risk, 'risk'),
      };
    } catch (err) {
      return { error: err instanceof Error ? err.message : String(err) };
    }
  }

  /** The one evaluation path; `trace` is filled only when explaining, so evaluate stays lean. */
  function decide(req: PolicyRequest, trace: ExplainedRule[] | null): { decision: Decision; index: number } {
    const roles = principalRoles(req);
    const ctx = buildContext(req, roles);
    if ('error' in ctx) {
      return {
        decision: {
          effect: 'deny',
          ruleId: null,
          reason: `the request could not be given to the policy, so it is denied (fail closed): ${ctx.error}`,
          policy: name,
          error: ctx.error,
        },
        index: -1,
      };
    }
    for (let i = 0; i < runnable.length; i++) {
      const { rule, tools } = runnable[i]!;
      let outcome: RuleOutcome;
      if (tools !== null && !tools.has(req.tool.name)) outcome = { kind: 'tool_not_covered' };
      else if (rule.condition === null) outcome = { kind: 'matched' };
      else {
        const result = rule.condition(ctx);
        if (!result.ok) outcome = { kind: 'error', error: result.error };
        else outcome = result.value ? { kind: 'matched' } : { kind: 'condition_false' };
      }
      trace?.push({ ruleId: rule.id, file: rule.file, line: rule.line, outcome });
      if (outcome.kind === 'matched') return { decision: decisionOf(rule, name, ctx), index: i };
      if (outcome.kind === 'error') {
        return {
          decision: {
            effect: 'deny',
            ruleId: rule.id,
            reason: `rule "${rule.id}" could not be evaluated, so the call is denied (fail closed): ${outcome.error}`,
            policy: name,
            error: outcome.error,
          },
          index: i,
        };
      }
    }
    return {
      decision: {
        effect: 'deny',
        ruleId: null,
        reason: `no rule in policy "${name}" matched ${req.tool.name} (environment ${req.environment}); anything no rule allows is denied`,
        policy: name,
      },
      index: runnable.length,
    };
  }

  return {
    name,
    files: [...spec.files],
    rules: spec.rules,
    roles: spec.roles,
    rolesOf,
    evaluate: (req) => decide(req, null).decision,
    explain(req): Explanation {
      const trace: ExplainedRule[] = [];
      const { decision, index } = decide(req, trace);
      return {
        decision,
        principal: { id: req.principal.id, roles: principalRoles(req) },
        tool: req.tool.name,
        environment: req.environment,
        rules: trace,
        notEvaluated: Math.max(0, runnable.length - (index + 1)),
      };
    },
  };
}

function decisionOf(rule: LoadedRule, policy: string, ctx: ConditionContext): Decision {
  const reason = rule.reasonParts ? renderReason(rule.reasonParts, ctx) : rule.reason;
  const decision: Decision = { effect: rule.effect, ruleId: rule.id, reason, policy };
  if (rule.approval) decision.approval = { ...rule.approval, roles: [...rule.approval.roles] };
  return decision;
}

/** Evaluates the enforced set and, beside it, a shadow set whose decision changes nothing. */
export function evaluateWithShadow(
  enforced: PolicySet,
  shadow: PolicySet | null,
  req: PolicyRequest,
): { decision: Decision; shadow: Decision | null } {
  const decision = enforced.evaluate(req);
  if (!shadow) return { decision, shadow: null };
  let shadowDecision: Decision;
  try {
    shadowDecision = shadow.evaluate(req);
  } catch (err) {
    // A shadow is an experiment: its faults are recorded, never allowed to disturb enforcement.
    const error = err instanceof Error ? err.message : String(err);
    shadowDecision = {
      effect: 'deny',
      ruleId: null,
      reason: `shadow policy failed: ${error}`,
      policy: shadow.name,
      error,
    };
  }
  return { decision, shadow: shadowDecision };
}
