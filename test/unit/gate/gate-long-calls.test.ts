// Long-running tools behind the gate (training, a canary rollout), with the in-memory
// backends holding their work until the test ends it: started and recorded before the
// gate answers, finished once, timed out past the deadline, never started twice.
import { afterEach, describe, expect, it } from 'vitest';
import { verifyAuditFile } from '../../../src/audit/index.js';
import type { WaitingCall } from '../../../src/gate/index.js';
import { gateFixture, type GateFixture } from '../../support/gate-fixture.js';
import { manualClock } from '../../support/manual-clock.js';
import { version } from '../../support/memory-backends.js';

const agent = { id: 'agent:alertmanager', roles: [] };
const retrain = { model: 'credit-risk', dataset: 'credit-recent', searchTrials: 2 };
let fx: GateFixture;
afterEach(async () => fx?.cleanup());

async function started(callId = 'c1'): Promise<WaitingCall> {
  const outcome = await fx.gate.call({
    runId: 'r1',
    callId,
    principal: agent,
    tool: 'trigger_retrain',
    args: retrain,
    park: true,
  });
  if (outcome.status !== 'waiting') throw new Error(`expected waiting, got ${JSON.stringify(outcome)}`);
  return outcome.wait;
}

const kinds = async () => (await fx.entries()).map((e) => e.kind);

describe('a long-running tool behind the gate', () => {
  it('is started, and recorded as started and waiting with its handle and deadline, before the gate answers', async () => {
    const clock = manualClock();
    fx = await gateFixture({ clock });
    fx.backends.holdJobs = true;
    const outcome = await fx.gate.call({
      runId: 'r1',
      callId: 'c1',
      principal: agent,
      tool: 'trigger_retrain',
      args: retrain,
      park: true,
    });
    expect(outcome).toMatchObject({
      status: 'waiting',
      summary: 'training job job-r1:c1 running',
      wait: {
        runId: 'r1',
        callId: 'c1',
        tool: 'trigger_retrain',
        handle: { jobId: 'job-r1:c1', waitForCompletion: true },
        idempotencyKey: 'r1:c1',
        startedAt: '2026-01-01T00:00:00.000Z',
        deadline: '2026-01-01T00:10:00.000Z',
        approvalId: null,
      },
    });
    expect(await kinds()).toEqual(['call.proposed', 'policy.decision', 'execution.started', 'execution.waiting']);
    const waiting = (await fx.entries()).at(-1)!;
    expect(waiting.data).toMatchObject({
      callId: 'c1',
      tool: 'trigger_retrain',
      handle: { jobId: 'job-r1:c1' },
      deadline: '2026-01-01T00:10:00.000Z',
      timeoutMs: 600_000,
    });
  });

  it('records nothing while the work goes on, then its checked output once as execution.finished', async () => {
    fx = await gateFixture();
    fx.backends.holdJobs = true;
    const wait = await started();
    expect(await fx.gate.checkWaiting(wait)).toBe(false);
    expect(await fx.gate.completeWaiting(wait)).toBeNull();
    expect(await kinds()).toEqual(['call.proposed', 'policy.decision', 'execution.started', 'execution.waiting']);

    fx.backends.finishJob('job-r1:c1');
    expect(await fx.gate.checkWaiting(wait)).toBe(true);
    expect(await kinds()).not.toContain('execution.finished');
    const end = await fx.gate.completeWaiting(wait);
    expect(end).toMatchObject({
      status: 'executed',
      output: { jobId: 'job-r1:c1', status: 'succeeded', version: '2', promotable: true, metrics: { auc: 0.87 } },
      summary: expect.stringContaining('registered v2'),
    });
    const finished = (await fx.entries()).filter((e) => e.kind === 'execution.finished');
    expect(finished).toHaveLength(1);
    expect(finished[0]).toMatchObject({
      runId: 'r1',
      principal: 'agent:alertmanager',
      data: { callId: 'c1', tool: 'trigger_retrain', output: { version: '2' } },
    });
    expect(await verifyAuditFile(fx.auditFile)).toMatchObject({ ok: true });
  });

  it('fails the call as timed out once its deadline has passed, and says the work may still be going on', async () => {
    const clock = manualClock();
    fx = await gateFixture({ clock });
    fx.backends.holdJobs = true;
    const wait = await started();
    clock.advance(9 * 60_000);
    expect(await fx.gate.completeWaiting(wait)).toBeNull();
    clock.advance(60_000);
    expect(await fx.gate.checkWaiting(wait)).toBe(true);
    const end = await fx.gate.completeWaiting(wait);
    expect(end).toMatchObject({
      status: 'failed',
      timedOut: true,
      error: expect.stringMatching(
        /^timed out: trigger_retrain had not finished by its deadline 2026-01-01T00:10:00.000Z .*may still be going on/,
      ),
    });
    expect((await fx.entries()).at(-1)).toMatchObject({
      kind: 'execution.failed',
      data: { callId: 'c1', timedOut: true, waitedMs: 600_000 },
    });
  });

  it('gives the call its idempotency key, so starting the same call again starts no second job', async () => {
    fx = await gateFixture();
    fx.backends.holdJobs = true;
    await started('c1');
    // The same call again, as after a worker died between starting and recording it: the
    // gate's execution record answers with the job under way.
    const again = await fx.gate.call({
      runId: 'r1',
      callId: 'c1',
      principal: agent,
      tool: 'trigger_retrain',
      args: retrain,
      park: true,
    });
    expect(again).toMatchObject({ status: 'waiting', wait: { handle: { jobId: 'job-r1:c1' } } });
    expect(fx.backends.calls.filter((c) => c.startsWith('trainer.start'))).toHaveLength(1);
    // Without that record (another deployment's gate), the trainer itself starts no second job for the key.
    const elsewhere = await gateFixture({ backends: fx.backends });
    try {
      const third = await elsewhere.gate.call({
        runId: 'r1',
        callId: 'c1',
        principal: agent,
        tool: 'trigger_retrain',
        args: retrain,
        park: true,
      });
      expect(third).toMatchObject({ status: 'waiting', wait: { handle: { jobId: 'job-r1:c1' } } });
      expect(fx.backends.calls.filter((c) => c.startsWith('trainer.start'))).toHaveLength(2);
      expect(fx.backends.jobs.size).toBe(1);
    } finally {
      await elsewhere.cleanup();
    }
  });

  it('answers executed with no wait recorded when the work ended at once', async () => {
    fx = await gateFixture();
    const outcome = await fx.gate.call({
      runId: 'r1',
      callId: 'c1',
      principal: agent,
      tool: 'trigger_retrain',
      args: retrain,
      park: true,
    });
    expect(outcome).toMatchObject({ status: 'executed', output: { status: 'succeeded', version: '2' } });
    expect(await kinds()).toEqual(['call.proposed', 'policy.decision', 'execution.started', 'execution.finished']);
  });

  it('answers a caller that cannot come back (an MCP client) only when the work has ended', async () => {
    fx = await gateFixture();
    fx.backends.holdJobs = true;
    const answered = fx.gate.call({
      runId: null,
      callId: 'mcp-1',
      principal: agent,
      tool: 'trigger_retrain',
      args: retrain,
    });
    let done = false;
    void answered.then(() => (done = true));
    // Still waiting: the job has not ended.
    while (fx.backends.jobs.size === 0) await new Promise((r) => setTimeout(r, 5));
    await new Promise((r) => setTimeout(r, 100));
    expect(done).toBe(false);
    fx.backends.finishJob('job-direct:mcp-1');
    expect(await answered).toMatchObject({ status: 'executed', output: { status: 'succeeded', version: '2' } });
    expect(await kinds()).toEqual([
      'call.proposed',
      'policy.decision',
      'execution.started',
      'execution.waiting',
      'execution.finished',
    ]);
  });

  it('ends a failed job as executed with the job failed, as the tool reports it', async () => {
    fx = await gateFixture();
    fx.backends.holdJobs = true;
    const wait = await started();
    fx.backends.finishJob('job-r1:c1', 'dataset credit-recent has no label column');
    expect(await fx.gate.completeWaiting(wait)).toMatchObject({
      status: 'executed',
      output: { status: 'failed', error: 'dataset credit-recent has no label column' },
      summary: 'training job job-r1:c1 failed: dataset credit-recent has no label column',
    });
  });

  it('fails a call whose stored handle is not one the tool made', async () => {
    fx = await gateFixture();
    fx.backends.holdJobs = true;
    const wait = await started();
    expect(await fx.gate.completeWaiting({ ...wait, handle: { jobId: 42 } })).toMatchObject({
      status: 'failed',
      timedOut: false,
      error: expect.stringContaining('stored handle of this trigger_retrain call is not one it made'),
    });
    expect((await fx.entries()).filter((e) => e.kind === 'execution.failed')).toHaveLength(1);
  });

  it("takes a failed look for no end (the backend may be down, or the work another process's) until the deadline, whose timeout names it", async () => {
    const clock = manualClock();
    fx = await gateFixture({ clock });
    fx.backends.holdJobs = true;
    const wait = { ...(await started()), handle: { jobId: 'job-elsewhere', waitForCompletion: true } };
    expect(await fx.gate.checkWaiting(wait)).toBe(false);
    expect(await fx.gate.completeWaiting(wait)).toBeNull();
    expect(await kinds()).not.toContain('execution.failed');
    clock.advance(10 * 60_000);
    expect(await fx.gate.checkWaiting(wait)).toBe(true);
    expect(await fx.gate.completeWaiting(wait)).toMatchObject({
      status: 'failed',
      timedOut: true,
      error: expect.stringContaining(
        'the last look at it failed: training job job-elsewhere is not known to this trainer',
      ),
    });
  });

  it('follows a canary until it leaves progressing, and returns the rollout', async () => {
    fx = await gateFixture();
    fx.backends.versions.push(version('credit-risk', '2', 0.88));
    fx.backends.holdCanaries = true;
    const outcome = await fx.gate.call({
      runId: 'r1',
      callId: 'c1',
      principal: agent,
      tool: 'deploy_canary',
      args: { model: 'credit-risk', version: '2', environment: 'production', trafficPercent: 5 },
      park: true,
    });
    expect(outcome).toMatchObject({
      status: 'waiting',
      summary: 'canary of credit-risk v2 stepping up to 5% in production',
    });
    if (outcome.status !== 'waiting') return;
    expect(await fx.gate.completeWaiting(outcome.wait)).toBeNull();
    fx.backends.endCanary('credit-risk', 'production');
    expect(await fx.gate.completeWaiting(outcome.wait)).toMatchObject({
      status: 'executed',
      output: { status: 'paused', canaryVersion: '2', canaryPercent: 5 },
    });
    expect(fx.backends.calls.filter((c) => c.startsWith('deployer.startCanary'))).toEqual(['deployer.startCanary:2@5']);
  });

  it("keeps an approved long-running call's outcome with its approval: started, then how it ended", async () => {
    fx = await gateFixture({ withApprovals: true });
    fx.backends.versions.push(version('credit-risk', '2', 0.88));
    fx.backends.holdCanaries = true;
    const asked = await fx.gate.call({
      runId: 'r1',
      callId: 'c1',
      principal: agent,
      tool: 'deploy_canary',
      args: { model: 'credit-risk', version: '2', environment: 'production', trafficPercent: 25 },
      park: true,
    });
    if (asked.status !== 'pending_approval' || !asked.approvalId)
      throw new Error(`expected a pending approval, got ${asked.status}`);
    await fx.approvals!.decide(asked.approvalId, {
      approverId: 'user:alice',
      verdict: 'grant',
      comment: null,
      via: 'http',
    });
    const outcome = await fx.gate.executeApproved(asked.approvalId, { park: true });
    expect(outcome).toMatchObject({ status: 'waiting', wait: { approvalId: asked.approvalId } });
    expect((await fx.approvals!.get(asked.approvalId))?.outcome).toMatchObject({
      status: 'started',
      summary: 'canary of credit-risk v2 stepping up to 25% in production',
    });
    if (outcome.status !== 'waiting') return;
    fx.backends.endCanary('credit-risk', 'production');
    await fx.gate.completeWaiting(outcome.wait);
    expect((await fx.approvals!.get(asked.approvalId))?.outcome).toMatchObject({
      status: 'executed',
      summary: expect.stringContaining('canary v2 at 25% of target 25%, paused'),
    });
  });
});
