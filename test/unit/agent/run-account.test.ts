import { describe, expect, it } from 'vitest';
import type { CallOutcomeForPlanner, TranscriptItem } from '../../../src/agent/planner.js';
import { undoesMitigation } from '../../../src/agent/mitigation.js';
import { endFromSummary, summarizeTranscript, unsupportedClaims, worse } from '../../../src/agent/run-account.js';

const readOnly = (tool: string) => ['registry_query', 'deployment_status', 'check_data_quality'].includes(tool);
let n = 0;
/** One call and its outcome, as the loop records them. */
function step(name: string, args: unknown, outcome: CallOutcomeForPlanner): TranscriptItem[] {
  const id = `call_${++n}`;
  return [
    { kind: 'plan', text: null, calls: [{ id, name, args }] },
    { kind: 'result', callId: id, name, outcome },
  ];
}
const executed = (output: unknown, summary = 'ok'): CallOutcomeForPlanner => ({ status: 'executed', output, summary });
const rollbackArgs = { model: 'credit-risk', environment: 'production', reason: 'bad canary' };

describe("a run's account of itself", () => {
  it('sorts each call by its last outcome: changed, looked, no-op, refused, failed', () => {
    const transcript = [
      ...step(
        'deployment_status',
        { model: 'credit-risk' },
        executed({ views: [] }, 'credit-risk/production: stable v1 100%'),
      ),
      ...step(
        'rollback',
        rollbackArgs,
        executed({ noop: true }, 'credit-risk production: no-op, nothing to roll back'),
      ),
      ...step(
        'deploy_canary',
        { model: 'credit-risk', version: '3' },
        { status: 'refused', reason: 'failed a quality gate', ruleId: 'deny-failed-gates-in-production' },
      ),
      ...step('trigger_retrain', { model: 'credit-risk' }, { status: 'failed', error: 'the trainer was closed' }),
    ];
    const summary = summarizeTranscript(transcript, readOnly);
    expect(summary.executed.map((i) => i.tool)).toEqual(['deployment_status']);
    expect(summary.noops.map((i) => i.tool)).toEqual(['rollback']);
    expect(summary.refused).toEqual([
      expect.objectContaining({
        tool: 'deploy_canary',
        detail: '[deny-failed-gates-in-production] failed a quality gate',
      }),
    ]);
    expect(summary.failed).toEqual([
      expect.objectContaining({ tool: 'trigger_retrain', detail: 'the trainer was closed', readOnly: false }),
    ]);
    expect(summary.text).toBe(
      'Changed nothing. Looked: deployment_status. No-op: rollback (credit-risk production: no-op, nothing to roll back). Refused: deploy_canary ([deny-failed-gates-in-production] failed a quality gate). Failed: trigger_retrain (the trainer was closed).',
    );
    // A failed step outranks a refusal.
    expect(endFromSummary(summary)).toEqual({
      status: 'failed',
      reason: 'failed: trigger_retrain (the trainer was closed)',
    });
  });

  it("takes the end of an approved or long-running call as the call's outcome", () => {
    const transcript: TranscriptItem[] = [
      { kind: 'plan', text: null, calls: [{ id: 'c1', name: 'deploy_canary', args: {} }] },
      {
        kind: 'result',
        callId: 'c1',
        name: 'deploy_canary',
        outcome: { status: 'pending_approval', reason: 'needs a lead', approvalId: 'apr_x' },
      },
      {
        kind: 'approval',
        callId: 'c1',
        name: 'deploy_canary',
        approvalId: 'apr_x',
        status: 'denied',
        resolution: 'denied by user:alice: not now',
        outcome: { status: 'refused', reason: 'approval denied: not now', ruleId: 'approve-production-canary-above-5' },
      },
    ];
    const summary = summarizeTranscript(transcript, readOnly);
    expect(summary.refused.map((i) => i.tool)).toEqual(['deploy_canary']);
    expect(endFromSummary(summary).status).toBe('refused');
  });

  it('forgives a failure the planner got past: bad arguments corrected, a failed call retried successfully', () => {
    const transcript = [
      ...step(
        'rollback',
        { model: 'credit-rsk' },
        { status: 'invalid', error: 'model "credit-rsk" is not in the registry', issues: [], code: 'not_found' },
      ),
      ...step('rollback', rollbackArgs, { status: 'failed', error: 'deployer timed out' }),
      ...step(
        'rollback',
        rollbackArgs,
        executed({ noop: false, rolledBack: { version: '2', percent: 5 } }, 'all traffic on v1'),
      ),
    ];
    const summary = summarizeTranscript(transcript, readOnly);
    expect(summary.failed).toEqual([]);
    expect(summary.executed.map((i) => i.tool)).toEqual(['rollback']);
    expect(endFromSummary(summary)).toEqual({ status: 'succeeded', reason: null });
  });

  it("does not fail a run for a failed look, nor refuse it for the loop's repeat guard", () => {
    const transcript = [
      ...step(
        'registry_query',
        { action: 'get_version', model: 'credit-risk', version: '7' },
        { status: 'invalid', error: 'no version 7', issues: [], code: 'not_found' },
      ),
      ...step(
        'registry_query',
        { action: 'list_models' },
        { status: 'refused', reason: 'already proposed twice', ruleId: 'loop.max-repeated-calls' },
      ),
    ];
    const summary = summarizeTranscript(transcript, readOnly);
    expect(summary.failed).toHaveLength(1);
    expect(summary.refused).toHaveLength(1);
    expect(endFromSummary(summary).status).toBe('succeeded');
  });

  it('needs a person for a call left waiting for approval that no channel took', () => {
    const transcript = step(
      'deploy_canary',
      {},
      { status: 'pending_approval', reason: 'needs a lead; no approval channel is configured', approvalId: null },
    );
    expect(endFromSummary(summarizeTranscript(transcript, readOnly)).status).toBe('needs_attention');
  });

  it("lets a runbook's own end make the status worse, never better", () => {
    const clean = summarizeTranscript(step('check_data_quality', {}, executed({ findings: [] })), readOnly);
    expect(endFromSummary(clean, 'needs_attention').status).toBe('needs_attention');
    const failed = summarizeTranscript(step('rollback', rollbackArgs, { status: 'failed', error: 'boom' }), readOnly);
    expect(endFromSummary(failed, 'succeeded').status).toBe('failed');
    expect(worse('refused', 'needs_attention')).toBe('refused');
  });
});

describe('checking an answer against the transcript', () => {
  it('flags a claimed rollback that never executed, and one that was a no-op', () => {
    const none = unsupportedClaims('I rolled back credit-risk to v1. Traffic is healthy again.', []);
    expect(none).toEqual([
      {
        kind: 'unsupported_claim',
        claim: 'rollback',
        sentence: 'I rolled back credit-risk to v1.',
        reason: expect.stringContaining('no executed call'),
      },
    ]);
    const noop = step('rollback', rollbackArgs, executed({ noop: true }, 'no-op'));
    expect(unsupportedClaims('Rolled back v2 in production.', noop).map((f) => f.claim)).toEqual(['rollback']);
  });

  it('accepts claims the transcript shows, and reports of what tools said happened', () => {
    const rolled = step('rollback', rollbackArgs, executed({ noop: false, rolledBack: { version: '2', percent: 5 } }));
    expect(unsupportedClaims('I have rolled back v2; v1 serves all traffic.', rolled)).toEqual([]);
    const analysis = step(
      'deployment_status',
      { model: 'credit-risk' },
      executed({ views: [{ lastRollout: { state: 'rolled_back' } }] }),
    );
    expect(unsupportedClaims('v2 was rolled back by its canary analysis.', analysis)).toEqual([]);
  });

  it('does not take a hedge or a negation for a claim', () => {
    const answer = [
      'I did not roll back anything.',
      'The rollback was refused by policy.',
      'I would have retrained, but the data is broken.',
      'Promoting v2 needs approval from an ML lead.',
    ].join(' ');
    expect(unsupportedClaims(answer, [])).toEqual([]);
  });

  it('flags a claimed retrain and a claimed promotion the transcript does not show', () => {
    const claims = unsupportedClaims('I retrained credit-risk on the recent data.\nWe promoted v3 to all traffic.', []);
    expect(claims.map((f) => f.claim)).toEqual(['retrain', 'promotion']);
  });
});

describe('the mitigation guard', () => {
  const mitigation = (output: unknown, labels: Record<string, string>): TranscriptItem[] => [
    { kind: 'trigger', trigger: 'alert', text: 'CanaryDegraded', data: { labels } },
    {
      kind: 'plan',
      text: '[runbook canary-rollback step rollback] roll back',
      calls: [{ id: 'call_1', name: 'rollback', args: rollbackArgs }],
      mitigation: true,
    },
    { kind: 'result', callId: 'call_1', name: 'rollback', outcome: executed(output) },
  ];
  const redeploy = (version: string, environment = 'production') => ({
    id: 'call_2',
    name: 'deploy_canary',
    args: { model: 'credit-risk', version, environment, trafficPercent: 5 },
  });

  it('refuses putting back the version the mitigation took off traffic, in that environment only', () => {
    const transcript = mitigation(
      { model: 'credit-risk', environment: 'production', noop: false, rolledBack: { version: '2', percent: 5 } },
      { model: 'credit-risk', environment: 'production' },
    );
    expect(undoesMitigation(transcript, redeploy('2'), false)).toMatch(
      /^refused: deploy_canary would put credit-risk v2 back on traffic in production, undoing this run's mitigation/,
    );
    expect(undoesMitigation(transcript, redeploy('2', 'staging'), false)).toBeNull();
    expect(undoesMitigation(transcript, redeploy('3'), false)).toBeNull();
    expect(
      undoesMitigation(
        transcript,
        { id: 'c', name: 'deployment_status', args: { model: 'credit-risk', version: '2', environment: 'production' } },
        true,
      ),
    ).toBeNull();
  });

  it('protects the version the alert names when the mitigation found it off traffic already (a no-op)', () => {
    const transcript = mitigation(
      { model: 'credit-risk', environment: 'production', noop: true, rolledBack: null },
      { model: 'credit-risk', environment: 'production', version: '2' },
    );
    expect(undoesMitigation(transcript, redeploy('2'), false)).toMatch(/undoing this run's mitigation/);
  });

  it('guards nothing when no mitigation step executed', () => {
    const transcript: TranscriptItem[] = [
      {
        kind: 'trigger',
        trigger: 'alert',
        text: 'x',
        data: { labels: { model: 'credit-risk', environment: 'production', version: '2' } },
      },
      ...step('rollback', rollbackArgs, { status: 'refused', reason: 'no', ruleId: 'r' }),
    ];
    expect(undoesMitigation(transcript, redeploy('2'), false)).toBeNull();
  });
});
