// Turns an Explanation into the text an operator reads: the decision, the rule that made
// it, and why each earlier rule did not apply.
import { formatDuration } from './duration.js';
import type { Decision, Explanation, RuleOutcome } from './types.js';

export function formatDecision(d: Decision): string {
  const lines = [`decision: ${d.effect}`, `rule:     ${d.ruleId ?? '(none: default deny)'}`, `reason:   ${d.reason}`];
  if (d.approval) {
    const who = d.approval.roles.join(' or ');
    const n = d.approval.count;
    lines.push(
      `approval: ${n} distinct approver${n === 1 ? '' : 's'} holding ${who}; expires after ${formatDuration(d.approval.expiresInMs)}`,
    );
  }
  if (d.error) lines.push(`error:    ${d.error}`);
  lines.push(`policy:   ${d.policy}`);
  return lines.join('\n');
}

function describeOutcome(o: RuleOutcome, tool: string): string {
  switch (o.kind) {
    case 'tool_not_covered':
      return `does not cover tool ${tool}`;
    case 'condition_false':
      return 'condition is false';
    case 'error':
      return `evaluation error: ${o.error}`;
    case 'matched':
      return 'matched';
  }
}

export function formatExplanation(e: Explanation): string {
  const roles = e.principal.roles.length > 0 ? e.principal.roles.join(', ') : 'no roles';
  const out = [
    formatDecision(e.decision),
    '',
    `request:  ${e.tool} by ${e.principal.id} (${roles}), environment ${e.environment}`,
  ];
  if (e.rules.length === 0) out.push('rules:    (the policy set has no rules)');
  else out.push('rules, in order:');
  for (const r of e.rules) {
    const deciding =
      r.ruleId === e.decision.ruleId && r.outcome.kind !== 'tool_not_covered' && r.outcome.kind !== 'condition_false';
    const mark = deciding ? '=>' : '  ';
    out.push(`  ${mark} ${r.ruleId} (${r.file}:${r.line}): ${describeOutcome(r.outcome, e.tool)}`);
  }
  if (e.notEvaluated > 0) out.push(`  (${e.notEvaluated} later rule${e.notEvaluated === 1 ? '' : 's'} not evaluated)`);
  return out.join('\n');
}
