// A run that needs approval parks, frees its worker, and picks up exactly where it stopped.
import { afterEach, describe, expect, it } from 'vitest';
import type { Trigger } from '../../../src/agent/run.js';
import { verifyAuditFile } from '../../../src/audit/index.js';
import { type GateFixture } from '../../support/gate-fixture.js';
import { manualClock } from '../../support/manual-clock.js';
import { version } from '../../support/memory-backends.js';
import { answer, call, scriptedPlanner } from '../../support/scripted-planner.js';
import { agentFixture, testLimits } from '../../support/agent-fixture.js';

let fx: GateFixture;
afterEach(async () => fx?.cleanup());

const alert: Trigger = {
  kind: 'alert',
  principal: { id: 'agent:alertmanager', roles: [] },
  text: 'drift',
  data: {},
  alertName: 'ModelDriftDetected',
};
const canary = (trafficPercent: number) =>
  call('deploy_canary', { model: 'credit-risk', version: '2', environment: 'production', trafficPercent });

async function setup(turns: Parameters<typeof scriptedPlanner>[0], maxWallMs = 60_000) {
  const clock = manualClock();
  const planner = scriptedPlanner(turns);
  const made = await agentFixture({
    withApprovals: true,
    clock,
    planner,
    agent: { limits: { ...testLimits, maxWallMs } },
  });
  fx = made.fx;
  fx.backends.versions.push(version('credit-risk', '2', 0.88));
  const { agent, runs } = made;
  return { agent, runs, planner, clock, approvals: fx.approvals! };
}

const deploys = () => fx.backends.calls.filter((c) => c.startsWith('deployer.startCanary'));

describe('a run waiting for approval', () => {
  it('parks, stays parked while the approval waits, then executes the approved call once and goes on', async () => {
    const { agent, runs, planner, approvals } = await setup([canary(5), canary(25), answer('canary at 25%')]);
    const parked = await agent.start(alert);
    expect(parked.status).toBe('waiting_approval');
    expect(deploys()).toEqual(['deployer.startCanary:2@5']);
    const [approval] = await approvals.list({ runId: parked.id });
    expect(approval).toMatchObject({ status: 'pending', callId: 'call_2' });

    // A resume before anyone decided (a redelivered job, a sweep) changes nothing.
    expect((await agent.resume(parked.id)).status).toBe('waiting_approval');
    expect(planner.seen).toHaveLength(2);

    await approvals.decide(approval!.id, {
      approverId: 'user:alice',
      verdict: 'grant',
      comment: 'looks good',
      via: 'slack',
    });
    const done = await agent.resume(parked.id);
    expect(done).toMatchObject({ status: 'succeeded', answer: 'canary at 25%' });
    expect(deploys()).toEqual(['deployer.startCanary:2@5', 'deployer.startCanary:2@25']);
    expect(done.transcript.at(-2)).toMatchObject({
      kind: 'approval',
      callId: 'call_2',
      status: 'granted',
      resolution: 'granted by user:alice',
      outcome: { status: 'executed' },
    });
    // The planner saw the approval's outcome before answering.
    expect(planner.seen[2]!.transcript.at(-1)).toMatchObject({ kind: 'approval', outcome: { status: 'executed' } });

    // Resuming a finished run does nothing more.
    await agent.resume(parked.id);
    expect(deploys()).toHaveLength(2);
    expect((await runs.get(parked.id))?.status).toBe('succeeded');
    expect((await verifyAuditFile(fx.auditFile)).ok).toBe(true);
  });

  it('tells the planner about a denial and lets it go on without executing the call', async () => {
    const { agent, planner, approvals } = await setup([canary(25), answer('left the canary as it was')]);
    const parked = await agent.start(alert);
    const [approval] = await approvals.list({ runId: parked.id });
    await approvals.decide(approval!.id, {
      approverId: 'user:bob',
      verdict: 'deny',
      comment: 'wait for the labels',
      via: 'http',
    });
    const done = await agent.resume(parked.id);
    // People said no: the run ends refused, with the approval's reason.
    expect(done).toMatchObject({ status: 'refused', error: expect.stringContaining('wait for the labels') });
    expect(deploys()).toEqual([]);
    expect(planner.seen[1]!.transcript.at(-1)).toMatchObject({
      kind: 'approval',
      status: 'denied',
      outcome: { status: 'refused', reason: expect.stringContaining('wait for the labels') },
    });
  });

  it('does not count hours spent waiting for people against the wall-clock budget', async () => {
    const { agent, approvals, clock } = await setup([canary(25), answer('done')], 60_000);
    const parked = await agent.start(alert);
    clock.advance(3 * 60 * 60_000);
    const [approval] = await approvals.list({ runId: parked.id });
    await approvals.decide(approval!.id, { approverId: 'user:alice', verdict: 'grant', comment: null, via: 'http' });
    const done = await agent.resume(parked.id);
    expect(done).toMatchObject({ status: 'succeeded', waitedMs: 3 * 60 * 60_000 });
  });

  it('executes once, without asking people again, an approved call whose worker died after taking the grant', async () => {
    const { agent, approvals } = await setup([canary(25), answer('checked')]);
    const parked = await agent.start(alert);
    const [approval] = await approvals.list({ runId: parked.id });
    await approvals.decide(approval!.id, { approverId: 'user:alice', verdict: 'grant', comment: null, via: 'http' });
    // The dead worker consumed the grant and stopped before it took the call's key: the deployer never heard of it.
    await fx.approvalStore!.update(approval!.id, (a) => ({ ...a, consumedAt: '2026-01-01T00:00:01.000Z' }));
    const done = await agent.resume(parked.id);
    expect(deploys()).toEqual(['deployer.startCanary:2@25']);
    expect(done.transcript.find((i) => i.kind === 'approval')).toMatchObject({
      status: 'granted',
      outcome: { status: 'executed' },
    });
    expect(done.transcript.find((i) => i.kind === 'note')).toMatchObject({
      text: expect.stringContaining('so it was executed now, once'),
    });
    expect(done).toMatchObject({ status: 'succeeded', answer: 'checked' });
    expect((await approvals.get(approval!.id))?.outcome).toMatchObject({ status: 'executed' });
  });
});
