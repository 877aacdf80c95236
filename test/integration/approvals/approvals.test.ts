// The approvals service with the real gate, default policy, audit log and file store.
import { afterEach, describe, expect, it } from 'vitest';
import { verifyAuditFile } from '../../../src/audit/index.js';
import type { GateOutcome } from '../../../src/gate/index.js';
import { gateFixture, type GateFixture } from '../../support/gate-fixture.js';
import { manualClock } from '../../support/manual-clock.js';
import { version } from '../../support/memory-backends.js';

let fx: GateFixture;
afterEach(async () => fx?.cleanup());

const canary25 = { model: 'credit-risk', version: '2', environment: 'production', trafficPercent: 25 };
const principal = { id: 'agent:alertmanager', roles: [] };

async function setup() {
  const clock = manualClock();
  fx = await gateFixture({ withApprovals: true, clock });
  fx.backends.versions.push(version('credit-risk', '2', 0.88));
  const approvals = fx.approvals!;
  const resolved: string[] = [];
  approvals.onResolved((a) => resolved.push(`${a.id}:${a.status}`));
  return { clock, approvals, resolved };
}

async function park(args: Record<string, unknown> = canary25): Promise<string> {
  const outcome = await fx.gate.call({ runId: 'run_a', callId: 'call_1', principal, tool: 'deploy_canary', args });
  expect(outcome.status).toBe('pending_approval');
  return (outcome as Extract<GateOutcome, { status: 'pending_approval' }>).approvalId!;
}

const kinds = async () => (await fx.entries()).map((e) => e.kind);
const deploys = () => fx.backends.calls.filter((c) => c.startsWith('deployer.startCanary'));

describe('approvals', () => {
  it('parks a production canary at 25% with what it would change, the rule, who may approve and when it expires', async () => {
    const { approvals } = await setup();
    const outcome = await fx.gate.call({
      runId: 'run_a',
      callId: 'call_1',
      principal,
      tool: 'deploy_canary',
      args: canary25,
    });
    expect(outcome).toMatchObject({
      status: 'pending_approval',
      approvalId: expect.stringMatching(/^apr_/),
      where: expect.stringContaining('POST /v1/approvals'),
    });
    const id = (outcome as Extract<GateOutcome, { status: 'pending_approval' }>).approvalId!;
    expect(await approvals.get(id)).toMatchObject({
      status: 'pending',
      runId: 'run_a',
      tool: 'deploy_canary',
      args: canary25,
      preview: { now: 'v1 100%', after: 'stable v1 75%, canary v2 25% (stepping up with an analysis at each step)' },
      rule: { id: 'approve-production-canary-above-5' },
      required: { roles: ['ml-leads'], count: 1 },
      requestedBy: principal,
      createdAt: '2026-01-01T00:00:00.000Z',
      expiresAt: '2026-01-01T04:00:00.000Z',
    });
    expect(deploys()).toEqual([]);
    expect(await kinds()).toEqual(['call.proposed', 'policy.decision', 'approval.requested']);
  });

  it('executes a granted call exactly once, recording the grant as consumed before the execution', async () => {
    const { approvals, resolved } = await setup();
    const id = await park();
    const decided = await approvals.decide(id, {
      approverId: 'user:alice',
      verdict: 'grant',
      comment: 'canary held',
      via: 'http',
    });
    expect(decided).toMatchObject({ ok: true, resolved: true, approval: { status: 'granted' } });
    expect(resolved).toEqual([`${id}:granted`]);

    const first = await fx.gate.executeApproved(id);
    expect(first).toMatchObject({ status: 'executed', summary: expect.stringContaining('canary v2 at 25%') });
    const again = await fx.gate.executeApproved(id);
    expect(again).toMatchObject({ status: 'refused', decision: { reason: expect.stringContaining('already used') } });
    expect(deploys()).toEqual(['deployer.startCanary:2@25']);
    expect(await approvals.get(id)).toMatchObject({ consumedAt: expect.any(String), outcome: { status: 'executed' } });

    const all = await kinds();
    expect(all.slice(3)).toEqual([
      'approval.vote',
      'approval.granted',
      'approval.consumed',
      'policy.decision',
      'execution.started',
      'execution.finished',
      'approval.not_executed',
    ]);
    expect((await verifyAuditFile(fx.auditFile)).ok).toBe(true);
  });

  it('executes once, without asking people again, a granted call whose worker stopped after consuming the grant', async () => {
    const { approvals } = await setup();
    const id = await park();
    await approvals.decide(id, { approverId: 'user:alice', verdict: 'grant', comment: 'canary held', via: 'http' });
    // The worker consumed the grant and died before it took the call's key.
    expect(await approvals.consume(id)).toMatchObject({ ok: true });
    const resumed = {
      approvalId: id,
      runId: 'run_a',
      callId: 'call_1',
      principal,
      tool: 'deploy_canary',
      args: canary25,
      ruleId: 'approve-production-canary-above-5',
    };
    const outcome = await fx.gate.resumeApproved(resumed);
    expect(outcome).toMatchObject({ status: 'executed', recovery: expect.stringContaining('executed now, once') });
    expect(deploys()).toEqual(['deployer.startCanary:2@25']);
    expect(await approvals.get(id)).toMatchObject({ outcome: { status: 'executed' } });
    // A second resume (another worker) asks the record, not the backend twice.
    expect((await fx.gate.resumeApproved(resumed)).status).toBe('executed');
    expect(deploys()).toEqual(['deployer.startCanary:2@25']);
    const decision = (await fx.entries()).find((e) => e.kind === 'policy.decision' && e.data.resumed === true);
    expect(decision?.data).toMatchObject({
      approvalId: id,
      honoured: true,
      decision: { effect: 'require_approval', ruleId: 'approve-production-canary-above-5' },
    });
  });

  it('executes nothing on a denial, and tells whoever asks why', async () => {
    const { approvals } = await setup();
    const id = await park();
    await approvals.decide(id, {
      approverId: 'user:bob',
      verdict: 'deny',
      comment: 'not during the freeze',
      via: 'cli',
    });
    expect(await fx.gate.executeApproved(id)).toMatchObject({
      status: 'refused',
      decision: { reason: expect.stringContaining('denied (denied by user:bob: not during the freeze)') },
    });
    expect(deploys()).toEqual([]);
  });

  it('refuses and audits self-approval, an unauthorised approver and an unknown id, changing nothing', async () => {
    const { approvals } = await setup();
    const id = await fx.gate
      .call({
        runId: null,
        callId: 'mcp-1',
        principal: { id: 'mcp:user:alice', roles: [] },
        tool: 'deploy_canary',
        args: canary25,
      })
      .then((o) => (o as Extract<GateOutcome, { status: 'pending_approval' }>).approvalId!);
    expect(
      await approvals.decide(id, { approverId: 'user:alice', verdict: 'grant', comment: null, via: 'http' }),
    ).toMatchObject({ ok: false, code: 'self_approval' });
    expect(
      await approvals.decide(id, { approverId: 'user:carol', verdict: 'grant', comment: null, via: 'http' }),
    ).toMatchObject({ ok: false, code: 'not_authorised' });
    expect(
      await approvals.decide('apr_zzzz_00000000', {
        approverId: 'user:bob',
        verdict: 'grant',
        comment: null,
        via: 'http',
      }),
    ).toMatchObject({ ok: false, code: 'not_found' });
    expect((await approvals.get(id))?.status).toBe('pending');
    const refused = (await fx.entries())
      .filter((e) => e.kind === 'approval.refused')
      .map((e) => [e.principal, e.data.code]);
    expect(refused).toEqual([
      ['user:alice', 'self_approval'],
      ['user:carol', 'not_authorised'],
      ['user:bob', 'not_found'],
    ]);
  });

  it('expires an approval nobody decided in time; expiry counts as a denial', async () => {
    const { approvals, clock, resolved } = await setup();
    const id = await park();
    clock.advance(4 * 60 * 60_000 - 1);
    expect(await approvals.expireDue()).toEqual([]);
    clock.advance(1);
    const expired = await approvals.expireDue();
    expect(expired.map((a) => [a.id, a.status])).toEqual([[id, 'expired']]);
    expect(resolved).toEqual([`${id}:expired`]);
    expect(
      await approvals.decide(id, { approverId: 'user:alice', verdict: 'grant', comment: null, via: 'http' }),
    ).toMatchObject({ ok: false, code: 'not_pending' });
    expect(await fx.gate.executeApproved(id)).toMatchObject({ status: 'refused' });
    expect(deploys()).toEqual([]);
    expect((await fx.entries()).find((e) => e.kind === 'approval.expired')?.data).toMatchObject({
      approvalId: id,
      moot: false,
    });
  });

  it('expires a pending approval as moot when what it would change has changed (the canary was rolled back)', async () => {
    const { approvals } = await setup();
    const id = await park();
    fx.backends.splits.set('credit-risk/production', {
      model: 'credit-risk',
      environment: 'production',
      stableVersion: '1',
      canaryVersion: '2',
      canaryPercent: 5,
      lastKnownGoodVersion: '1',
    });
    const [expired] = await approvals.expireDue();
    expect(expired).toMatchObject({ id, status: 'expired', resolution: expect.stringContaining('moot') });
    expect((await fx.entries()).find((e) => e.kind === 'approval.expired')?.data).toMatchObject({ moot: true });
  });

  it('does not execute a grant whose world moved between the decision and the execution', async () => {
    const { approvals } = await setup();
    const id = await park();
    await approvals.decide(id, { approverId: 'user:alice', verdict: 'grant', comment: null, via: 'http' });
    fx.backends.splits.set('credit-risk/production', {
      model: 'credit-risk',
      environment: 'production',
      stableVersion: '1',
      canaryVersion: null,
      canaryPercent: 0,
      lastKnownGoodVersion: '0',
    });
    expect(await fx.gate.executeApproved(id)).toMatchObject({
      status: 'refused',
      decision: { reason: expect.stringContaining('moot') },
    });
    expect(deploys()).toEqual([]);
    expect(await kinds()).toContain('approval.moot');
  });

  it('asks the policy again at execution: a candidate that now fails a gate is refused despite the grant', async () => {
    const { approvals } = await setup();
    const id = await park();
    await approvals.decide(id, { approverId: 'user:alice', verdict: 'grant', comment: null, via: 'http' });
    fx.backends.versions[1] = version('credit-risk', '2', 0.7, ['auc']);
    const outcome = await fx.gate.executeApproved(id);
    expect(outcome).toMatchObject({
      status: 'refused',
      decision: { effect: 'deny', reason: expect.stringContaining('deny-failed-gates-in-production') },
    });
    expect(deploys()).toEqual([]);
    expect(await approvals.get(id)).toMatchObject({ outcome: { status: 'refused' } });
  });

  it('holds a production promotion until an ML lead and a risk officer both approve', async () => {
    const { approvals } = await setup();
    const id = await park({ ...canary25, trafficPercent: 100 });
    expect(
      await approvals.decide(id, { approverId: 'user:alice', verdict: 'grant', comment: null, via: 'http' }),
    ).toMatchObject({ ok: true, resolved: false });
    expect(
      await approvals.decide(id, { approverId: 'user:bob', verdict: 'grant', comment: null, via: 'http' }),
    ).toMatchObject({ ok: true, resolved: false });
    expect(await fx.gate.executeApproved(id)).toMatchObject({
      status: 'refused',
      decision: { reason: expect.stringContaining('is pending') },
    });
    expect(
      await approvals.decide(id, { approverId: 'user:carol', verdict: 'grant', comment: null, via: 'slack' }),
    ).toMatchObject({ ok: true, resolved: true });
    expect(await fx.gate.executeApproved(id)).toMatchObject({ status: 'executed' });
    expect(deploys()).toEqual(['deployer.startCanary:2@100']);
  });
});
