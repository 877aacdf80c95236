// `approvals show` tells the data verdict of a parked retrain, and still shows approvals
// stored before risk figures had data.
import { describe, expect, it } from 'vitest';
import type { Approval } from '../../../src/approvals/index.js';
import { formatApproval } from '../../../src/cli/approvals-command.js';
import { NO_DATA_RISK, NO_RISK } from '../../../tools/index.js';

function approval(risk: object): Approval & { stillNeeded: string } {
  return {
    schemaVersion: 1,
    id: 'apr_1',
    runId: null,
    callId: 'c1',
    tool: 'trigger_retrain',
    args: { model: 'credit-risk', dataset: 'credit-recent' },
    argsHash: 'a'.repeat(64),
    idempotencyKey: 'k',
    risk,
    preview: null,
    stateHash: 'b'.repeat(64),
    rule: { id: 'approve-retrain-on-unchecked-data', reason: 'needs an ML lead', policy: 'default' },
    required: { roles: ['ml-leads'], count: 1 },
    requestedBy: { id: 'user:bob', roles: [] },
    createdAt: '2026-01-01T00:00:00.000Z',
    expiresAt: '2026-01-01T04:00:00.000Z',
    status: 'pending',
    votes: [],
    resolvedAt: null,
    stillNeeded: '1 more approval(s) from [ml-leads]',
  } as unknown as Approval & { stillNeeded: string };
}

describe('an approval as the CLI shows it', () => {
  it('names the data a retrain would use and its verdict', () => {
    const unchecked = formatApproval(
      approval({ ...NO_RISK, data: { ...NO_DATA_RISK, dataset: 'credit-recent', version: 'c'.repeat(64) } }),
    );
    expect(unchecked).toContain('reversible, data credit-recent NEVER CHECKED');
    const failed = formatApproval(
      approval({
        ...NO_RISK,
        data: { ...NO_DATA_RISK, dataset: 'credit-recent', checked: true, failedChecks: ['income.range'] },
      }),
    );
    expect(failed).toContain('data credit-recent FAILED income.range');
    const passed = formatApproval(
      approval({
        ...NO_RISK,
        data: { ...NO_DATA_RISK, dataset: 'credit-recent', checked: true, passed: true, driftOnly: true },
      }),
    );
    expect(passed).toContain('data credit-recent passed (drift only)');
  });

  it('shows an approval stored before risk had data, and one that involves no data, without a data part', () => {
    const { data: _none, ...old } = NO_RISK;
    expect(formatApproval(approval(old))).toMatch(
      /risk {7}none, traffic 0% \(\+0 pts\), quality delta 0, failed gates none, reversible\n/,
    );
    expect(formatApproval(approval(NO_RISK))).not.toContain(', data ');
  });
});
