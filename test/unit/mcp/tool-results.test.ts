import { describe, expect, it } from 'vitest';
import { NO_RISK } from '../../../tools/index.js';
import { toCallToolResult } from '../../../src/mcp/tool-results.js';

const text = (r: ReturnType<typeof toCallToolResult>) =>
  (r.content as { text: string }[]).map((c) => c.text).join('\n');

describe('what an MCP client reads back', () => {
  it('names the policy rule that refused, and says when it was the gate itself or the default deny', () => {
    const byRule = toCallToolResult('deploy_canary', {
      status: 'refused',
      risk: NO_RISK,
      decision: {
        effect: 'deny',
        ruleId: 'deny-failed-gates-in-production',
        reason: 'failed a gate (failed quality gates: auc 0.48 < 0.82)',
        policy: 'default',
      },
    });
    expect(text(byRule)).toBe(
      'Refused by policy rule deny-failed-gates-in-production (default): failed a gate (failed quality gates: auc 0.48 < 0.82)',
    );
    const byGate = toCallToolResult('rollback', {
      status: 'refused',
      risk: null,
      decision: { effect: 'deny', ruleId: null, reason: 'its risk could not be assessed (EIO)', policy: '(gate)' },
    });
    expect(text(byGate)).toBe('Refused by the gate itself, not a policy rule: its risk could not be assessed (EIO)');
    const byDefault = toCallToolResult('rollback', {
      status: 'refused',
      risk: NO_RISK,
      decision: { effect: 'deny', ruleId: null, reason: 'no rule matched', policy: 'default' },
    });
    expect(text(byDefault)).toBe('Refused by policy default (no rule matched: the default deny): no rule matched');
  });

  it('reports a not-found as a tool error naming what is missing', () => {
    const result = toCallToolResult('rollback', {
      status: 'invalid',
      code: 'not_found',
      error: 'model "fraud" is not in the registry',
      issues: [],
    });
    expect(result.isError).toBe(true);
    expect(text(result)).toBe('rollback: not found: model "fraud" is not in the registry');
  });
});
