// An approval changes state only after its audit entry is durable: request, vote, grant,
// deny, expiry (by time and as moot) and consume each append first, then compare-and-set.
// An audit sink that fails on one kind of entry stands for a full disk: the approval must
// stay as it was and nothing may execute. Real gate, default policy, real audit log and
// file store in a temp dir; only the sink in front of the audit log refuses.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { allTools } from '../../../tools/index.js';
import {
  createApprovals,
  createFileApprovalStore,
  stateFromTools,
  type Approval,
  type Approvals,
  type ApprovalStore,
} from '../../../src/approvals/index.js';
import { openFileAuditLog, readAuditEntries, verifyAuditFile, type AuditLog } from '../../../src/audit/index.js';
import { UpstreamError } from '../../../src/errors.js';
import { silentLogger } from '../../../src/logger.js';
import { defaultPolicyDir } from '../../../src/paths.js';
import {
  createFileExecutions,
  createGate,
  type AuditAppender,
  type Gate,
  type GateOutcome,
} from '../../../src/gate/index.js';
import { createPolicyStore } from '../../../src/policy/index.js';
import { manualClock } from '../../support/manual-clock.js';
import { memoryBackends, version, type MemoryBackends } from '../../support/memory-backends.js';

interface Fixture {
  dir: string;
  auditFile: string;
  audit: AuditLog;
  /** Kinds of entry the sink refuses, as a full disk would. */
  failing: Set<string>;
  approvals: Approvals;
  store: ApprovalStore;
  gate: Gate;
  backends: MemoryBackends;
  clock: ReturnType<typeof manualClock>;
  resolved: string[];
}

let fx: Fixture | null = null;
afterEach(async () => {
  await fx?.audit.close().catch(() => undefined);
  if (fx) rmSync(fx.dir, { recursive: true, force: true });
  fx = null;
});

async function setup(): Promise<Fixture> {
  const dir = mkdtempSync(join(tmpdir(), 'mlops-audit-first-'));
  const clock = manualClock();
  const auditFile = join(dir, 'audit.jsonl');
  const audit = await openFileAuditLog({ file: auditFile, clock });
  const failing = new Set<string>();
  const sink: AuditAppender = {
    append: (entry) =>
      failing.has(entry.kind)
        ? Promise.reject(
            new UpstreamError('audit', `cannot write audit log: no space left on device (${entry.kind})`, {
              retryable: false,
              code: 'audit_failed',
            }),
          )
        : audit.append(entry),
  };
  const policy = await createPolicyStore({
    files: [join(defaultPolicyDir, 'default.yaml')],
    knownTools: allTools.map((t) => t.name),
  });
  const backends = memoryBackends();
  backends.versions.push(version('credit-risk', '2', 0.88));
  const store = createFileApprovalStore(join(dir, 'approvals'));
  const approvals = createApprovals({
    store,
    audit: sink,
    rolesOf: (id) => policy.current().rolesOf(id),
    stateOf: stateFromTools(allTools, backends),
    clock,
    logger: silentLogger,
  });
  const gate = createGate({
    tools: allTools,
    backends,
    policy: (req) => policy.evaluate(req),
    audit: sink,
    clock,
    approvals,
    executions: createFileExecutions(join(dir, 'executions')),
  });
  const resolved: string[] = [];
  approvals.onResolved((a) => resolved.push(`${a.id}:${a.status}`));
  fx = { dir, auditFile, audit, failing, approvals, store, gate, backends, clock, resolved };
  return fx;
}

const principal = { id: 'agent:alertmanager', roles: [] };
const canary25 = { model: 'credit-risk', version: '2', environment: 'production', trafficPercent: 25 };
/** Promotion in production: an ML lead and a risk officer (two votes). */
const promote = { model: 'credit-risk', version: '2', environment: 'production', trafficPercent: 100 };

async function park(f: Fixture, args: Record<string, unknown>, callId = 'call_1'): Promise<Approval> {
  const outcome = await f.gate.call({ runId: 'run_a', callId, principal, tool: 'deploy_canary', args });
  expect(outcome.status).toBe('pending_approval');
  return (await f.approvals.get((outcome as Extract<GateOutcome, { status: 'pending_approval' }>).approvalId!))!;
}

const kinds = async (f: Fixture) => (await readAuditEntries(f.auditFile)).map((e) => e.kind);
const deploys = (f: Fixture) => f.backends.calls.filter((c) => c.startsWith('deployer.startCanary'));

describe('an approval changes state only after its audit entry is durable', () => {
  it('request: nothing is stored, and nothing can be approved, when approval.requested cannot be written', async () => {
    const f = await setup();
    f.failing.add('approval.requested');
    await expect(
      f.gate.call({ runId: 'run_a', callId: 'call_1', principal, tool: 'deploy_canary', args: canary25 }),
    ).rejects.toThrow(/no space left on device/);
    expect(await f.store.list()).toEqual([]);
    expect(deploys(f)).toEqual([]);
  });

  it('vote: a vote that cannot be recorded is not counted', async () => {
    const f = await setup();
    const approval = await park(f, promote);
    f.failing.add('approval.vote');
    await expect(
      f.approvals.decide(approval.id, { approverId: 'user:alice', verdict: 'grant', comment: null, via: 'http' }),
    ).rejects.toThrow(/no space left/);
    expect(await f.approvals.get(approval.id)).toEqual(approval);
    // The sink heals: the same vote now counts, once.
    f.failing.clear();
    expect(
      await f.approvals.decide(approval.id, { approverId: 'user:alice', verdict: 'grant', comment: null, via: 'http' }),
    ).toMatchObject({ ok: true, resolved: false });
    expect((await f.approvals.get(approval.id))?.votes.map((v) => v.by)).toEqual(['user:alice']);
  });

  it('grant: the last vote does not grant, and nothing executes, when approval.granted cannot be written', async () => {
    const f = await setup();
    const approval = await park(f, canary25);
    f.failing.add('approval.granted');
    await expect(
      f.approvals.decide(approval.id, { approverId: 'user:alice', verdict: 'grant', comment: null, via: 'http' }),
    ).rejects.toThrow(/no space left/);
    expect(await f.approvals.get(approval.id)).toEqual(approval);
    expect(f.resolved).toEqual([]);
    // A restart's sweep finds nothing granted to execute.
    expect(await f.gate.executeApproved(approval.id)).toMatchObject({
      status: 'refused',
      decision: { reason: expect.stringContaining('is pending') },
    });
    expect(deploys(f)).toEqual([]);
    // The vote was durable before the write failed: the log says it did not land.
    const log = await readAuditEntries(f.auditFile);
    const tail = log.filter((e) => e.data.approvalId === approval.id).map((e) => e.kind);
    expect(tail).toEqual(['approval.requested', 'approval.vote', 'approval.not_applied', 'approval.not_executed']);
    expect(log.find((e) => e.kind === 'approval.not_applied')?.data).toMatchObject({
      entries: ['approval.vote'],
      reason: expect.stringContaining('approval.granted'),
    });
    expect((await verifyAuditFile(f.auditFile)).ok).toBe(true);
  });

  it('deny: a denial that cannot be recorded ends nothing', async () => {
    const f = await setup();
    const approval = await park(f, canary25);
    f.failing.add('approval.denied');
    await expect(
      f.approvals.decide(approval.id, { approverId: 'user:bob', verdict: 'deny', comment: 'not now', via: 'http' }),
    ).rejects.toThrow(/no space left/);
    expect(await f.approvals.get(approval.id)).toEqual(approval);
    expect(f.resolved).toEqual([]);
  });

  it('expiry by time: an approval past its time stays pending until its expiry is recorded, and never executes', async () => {
    const f = await setup();
    const approval = await park(f, canary25);
    f.clock.advance(5 * 60 * 60_000);
    f.failing.add('approval.expired');
    await expect(f.approvals.expireDue()).rejects.toThrow(/no space left/);
    expect(await f.approvals.get(approval.id)).toEqual(approval);
    // Still past its time: a late vote is refused, not counted.
    f.failing.clear();
    expect(
      await f.approvals.decide(approval.id, { approverId: 'user:alice', verdict: 'grant', comment: null, via: 'http' }),
    ).toMatchObject({ ok: false, code: 'expired' });
    expect((await f.approvals.get(approval.id))?.status).toBe('expired');
    expect(deploys(f)).toEqual([]);
  });

  it('expiry as moot: the world moved, but the approval expires only once that is recorded', async () => {
    const f = await setup();
    const approval = await park(f, canary25);
    // Someone else's canary changed the split the approval was asked against.
    f.backends.splits.set('credit-risk/production', {
      model: 'credit-risk',
      environment: 'production',
      stableVersion: '1',
      canaryVersion: '2',
      canaryPercent: 5,
      lastKnownGoodVersion: '1',
    });
    f.failing.add('approval.expired');
    await expect(f.approvals.expireDue()).rejects.toThrow(/no space left/);
    expect(await f.approvals.get(approval.id)).toEqual(approval);
    f.failing.clear();
    expect((await f.approvals.expireDue()).map((a) => a.id)).toEqual([approval.id]);
    expect(await f.approvals.get(approval.id)).toMatchObject({
      status: 'expired',
      resolution: expect.stringContaining('moot'),
    });
  });

  it('consume: a grant is not taken, and its call not executed, until approval.consumed is durable; then it executes once', async () => {
    const f = await setup();
    const approval = await park(f, canary25);
    expect(
      await f.approvals.decide(approval.id, { approverId: 'user:alice', verdict: 'grant', comment: null, via: 'http' }),
    ).toMatchObject({ ok: true, resolved: true });
    f.failing.add('approval.consumed');
    await expect(f.gate.executeApproved(approval.id)).rejects.toThrow(/no space left/);
    expect(await f.approvals.get(approval.id)).toMatchObject({ status: 'granted', consumedAt: null, outcome: null });
    expect(deploys(f)).toEqual([]);

    f.failing.clear();
    expect(await f.gate.executeApproved(approval.id)).toMatchObject({ status: 'executed' });
    expect(await f.gate.executeApproved(approval.id)).toMatchObject({ status: 'refused' });
    expect(deploys(f)).toEqual(['deployer.startCanary:2@25']);
    const all = await kinds(f);
    expect(all.indexOf('approval.consumed')).toBeLessThan(all.indexOf('execution.started'));
  });

  it('moot at consumption: the grant is marked moot only after approval.moot is durable', async () => {
    const f = await setup();
    const approval = await park(f, canary25);
    await f.approvals.decide(approval.id, { approverId: 'user:alice', verdict: 'grant', comment: null, via: 'http' });
    f.backends.splits.set('credit-risk/production', {
      model: 'credit-risk',
      environment: 'production',
      stableVersion: '1',
      canaryVersion: '2',
      canaryPercent: 5,
      lastKnownGoodVersion: '1',
    });
    f.failing.add('approval.moot');
    await expect(f.gate.executeApproved(approval.id)).rejects.toThrow(/no space left/);
    expect(await f.approvals.get(approval.id)).toMatchObject({ status: 'granted', consumedAt: null, outcome: null });
    expect(deploys(f)).toEqual([]);
  });
});
