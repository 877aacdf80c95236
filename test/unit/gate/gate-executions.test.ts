// A call with side effects is executed once per idempotency key, whichever worker or
// attempt asks: a later attempt is told how the first ended, or, when no end was kept, what
// the backend says became of the call's key (ended, started, or never started).
import { afterEach, describe, expect, it } from 'vitest';
import { createMemoryExecutions, type WaitingCall } from '../../../src/gate/index.js';
import { gateFixture, type GateFixture } from '../../support/gate-fixture.js';
import { memoryBackends } from '../../support/memory-backends.js';

const agent = { id: 'agent:alertmanager', roles: [] };
const rollbackArgs = { model: 'credit-risk', environment: 'production', reason: 'canary score drift' };
const fixtures: GateFixture[] = [];
afterEach(async () => {
  for (const fx of fixtures.splice(0)) await fx.cleanup();
});
async function fixture(options: Parameters<typeof gateFixture>[0] = {}): Promise<GateFixture> {
  const fx = await gateFixture(options);
  fixtures.push(fx);
  // A canary holds traffic, so a rollback has something to do (with none it is a no-op).
  if (!fx.backends.splits.get('credit-risk/production')?.canaryVersion) {
    fx.backends.splits.set('credit-risk/production', {
      model: 'credit-risk',
      environment: 'production',
      stableVersion: '1',
      canaryVersion: '2',
      canaryPercent: 5,
      lastKnownGoodVersion: '1',
    });
  }
  return fx;
}
const rollbacks = (fx: GateFixture) => fx.backends.calls.filter((c) => c.startsWith('deployer.rollback'));

describe('execution records at the gate', () => {
  it('answers a call asked again under its key with how it ended, without executing it again', async () => {
    const fx = await fixture();
    const call = { runId: 'r1', callId: 'call_3', principal: agent, tool: 'rollback', args: rollbackArgs };
    const first = await fx.gate.call(call);
    expect(first.status).toBe('executed');
    const again = await fx.gate.call(call);
    // As it was kept (JSON: a -0 comes back as 0).
    expect(again).toEqual(JSON.parse(JSON.stringify(first)));
    expect(rollbacks(fx)).toHaveLength(1);
    const kinds = (await fx.entries()).map((e) => e.kind);
    expect(kinds.slice(-2)).toEqual(['call.proposed', 'call.replayed']);
    expect(kinds.filter((k) => k === 'execution.started')).toHaveLength(1);
  });

  /** What a worker killed between taking a call and keeping its end leaves: the key taken, no end. */
  async function takenWithoutEnd(
    fx: GateFixture,
    call: { runId: string; callId: string; tool: string; args: unknown },
    backends = fx.backends,
  ): Promise<GateFixture> {
    const first = await fixture({ backends: memoryBackends() });
    await first.gate.call({ ...call, principal: agent });
    const record = (await first.executions.find(`${call.runId}:${call.callId}`))!;
    const executions = createMemoryExecutions();
    await executions.take({ ...record, end: null });
    return fixture({ executions, backends });
  }

  it('asks the backend about a call taken with no recorded end, and records the end it already reached without doing it again', async () => {
    const fx = await fixture();
    const call = { runId: 'r1', callId: 'call_1', principal: agent, tool: 'rollback', args: rollbackArgs };
    expect((await fx.gate.call(call)).status).toBe('executed');
    // The worker died after the rollback and before its end was kept.
    const record = (await fx.executions.find('r1:call_1'))!;
    const executions = createMemoryExecutions();
    await executions.take({ ...record, end: null });
    const resumed = await fixture({ executions, backends: fx.backends });
    const outcome = await resumed.gate.call(call);
    expect(outcome).toMatchObject({
      status: 'executed',
      summary: 'credit-risk production: all traffic on v1 (last known good)',
      recovery: expect.stringContaining('had already done it under its key'),
    });
    expect(rollbacks(fx)).toHaveLength(1);
    expect((await resumed.entries()).map((e) => [e.kind, e.data.recovered ?? e.data.found ?? null])).toEqual([
      ['call.proposed', null],
      ['call.replayed', null],
      ['execution.reconciled', 'ended'],
      ['execution.finished', true],
    ]);
    expect((await executions.find('r1:call_1'))?.end).toMatchObject({ status: 'executed' });
  });

  it('executes now, once and after asking the policy again, a taken call its backend never started', async () => {
    const fx = await fixture();
    const resumed = await takenWithoutEnd(fx, { runId: 'r1', callId: 'call_1', tool: 'rollback', args: rollbackArgs });
    const outcome = await resumed.gate.call({
      runId: 'r1',
      callId: 'call_1',
      principal: agent,
      tool: 'rollback',
      args: rollbackArgs,
    });
    expect(outcome).toMatchObject({
      status: 'executed',
      recovery: expect.stringContaining(
        'was executed now, once, after the policy allowed it again (rule allow-rollback)',
      ),
    });
    expect(rollbacks(resumed)).toHaveLength(1);
    const entries = await resumed.entries();
    expect(entries.map((e) => e.kind)).toEqual([
      'call.proposed',
      'call.replayed',
      'execution.reconciled',
      'policy.decision',
      'execution.started',
      'execution.finished',
    ]);
    expect(entries[3]!.data).toMatchObject({ resumed: true, decision: { effect: 'allow', ruleId: 'allow-rollback' } });
    // A third attempt finds the end kept and does nothing.
    expect(
      (
        await resumed.gate.call({
          runId: 'r1',
          callId: 'call_1',
          principal: agent,
          tool: 'rollback',
          args: rollbackArgs,
        })
      ).status,
    ).toBe('executed');
    expect(rollbacks(resumed)).toHaveLength(1);
  });

  it('refuses, executing nothing, a taken call never started that the policy now denies', async () => {
    const fx = await fixture();
    const resumed = await takenWithoutEnd(fx, { runId: 'r1', callId: 'call_1', tool: 'rollback', args: rollbackArgs });
    // Nothing serves the model any more: its risk cannot be assessed, which denies.
    resumed.backends.splits.clear();
    const outcome = await resumed.gate.call({
      runId: 'r1',
      callId: 'call_1',
      principal: agent,
      tool: 'rollback',
      args: rollbackArgs,
    });
    expect(outcome).toMatchObject({ status: 'refused', recovery: expect.stringContaining('Nothing was executed') });
    expect(rollbacks(resumed)).toHaveLength(0);
    expect((await resumed.entries()).map((e) => e.kind)).not.toContain('execution.started');
  });

  it('follows as a waiting call a long-running call its backend had started under the key, starting nothing twice', async () => {
    const fx = await fixture();
    fx.backends.holdJobs = true;
    const args = { model: 'credit-risk', dataset: 'credit-recent' };
    const started = await fx.gate.call({
      runId: 'r1',
      callId: 'call_2',
      principal: agent,
      tool: 'trigger_retrain',
      args,
      park: true,
    });
    expect(started.status).toBe('waiting');
    const record = (await fx.executions.find('r1:call_2'))!;
    const executions = createMemoryExecutions();
    await executions.take({ ...record, end: null });
    const resumed = await fixture({ executions, backends: fx.backends });
    const outcome = await resumed.gate.call({
      runId: 'r1',
      callId: 'call_2',
      principal: agent,
      tool: 'trigger_retrain',
      args,
      park: true,
    });
    expect(outcome).toMatchObject({
      status: 'waiting',
      wait: { handle: { jobId: 'job-r1:call_2' }, startedAt: record.takenAt },
      recovery: expect.stringContaining('training job job-r1:call_2 running'),
    });
    expect(fx.backends.calls.filter((c) => c.startsWith('trainer.start'))).toHaveLength(1);
    expect((await resumed.entries()).find((e) => e.kind === 'execution.waiting')?.data).toMatchObject({
      recovered: true,
    });
    // Its end is recorded once, however often a resumed run comes back for it.
    fx.backends.finishJob('job-r1:call_2');
    const wait = (outcome as { wait: WaitingCall }).wait;
    expect(await resumed.gate.completeWaiting(wait)).toMatchObject({ status: 'executed' });
    expect(await resumed.gate.completeWaiting(wait)).toMatchObject({ status: 'executed' });
    expect((await resumed.entries()).filter((e) => e.kind === 'execution.finished')).toHaveLength(1);
  });

  it('records the end again, marked as a possible repeat, when an attempt stopped while recording it', async () => {
    const fx = await fixture();
    fx.backends.holdJobs = true;
    const args = { model: 'credit-risk', dataset: 'credit-recent' };
    const started = await fx.gate.call({
      runId: 'r1',
      callId: 'call_2',
      principal: agent,
      tool: 'trigger_retrain',
      args,
      park: true,
    });
    const wait = (started as { wait: WaitingCall }).wait;
    fx.backends.finishJob('job-r1:call_2');
    // What a process killed right after the end's audit entry leaves in the execution record.
    await fx.executions.finish('r1:call_2', {
      status: 'executed',
      summary: 'job registered v2',
      output: {},
      recording: true,
    });
    expect(await fx.gate.completeWaiting(wait)).toMatchObject({ status: 'executed' });
    const ends = (await fx.entries()).filter((e) => e.kind === 'execution.finished');
    expect(ends.map((e) => e.data.mayRepeat ?? false)).toEqual([true]);
    expect((await fx.executions.find('r1:call_2'))?.end).not.toHaveProperty('recording');
  });

  it('starts a long-running call its backend never started, under the same key', async () => {
    const fx = await fixture();
    fx.backends.holdJobs = true;
    const args = { model: 'credit-risk', dataset: 'credit-recent' };
    const resumed = await takenWithoutEnd(fx, { runId: 'r1', callId: 'call_2', tool: 'trigger_retrain', args });
    const outcome = await resumed.gate.call({
      runId: 'r1',
      callId: 'call_2',
      principal: agent,
      tool: 'trigger_retrain',
      args,
      park: true,
    });
    expect(outcome).toMatchObject({ status: 'waiting', wait: { handle: { jobId: 'job-r1:call_2' } } });
    expect(fx.backends.calls.filter((c) => c.startsWith('trainer.start'))).toHaveLength(1);
  });

  it('executes nothing and fails the attempt as retryable when the backend cannot be asked', async () => {
    const fx = await fixture();
    const resumed = await takenWithoutEnd(fx, { runId: 'r1', callId: 'call_1', tool: 'rollback', args: rollbackArgs });
    resumed.backends.deployer.lookup = async () => {
      throw new Error('deployer unreachable');
    };
    await expect(
      resumed.gate.call({ runId: 'r1', callId: 'call_1', principal: agent, tool: 'rollback', args: rollbackArgs }),
    ).rejects.toMatchObject({ retryable: true, message: expect.stringContaining('deployer unreachable') });
    expect(rollbacks(resumed)).toHaveLength(0);
  });

  it('refuses a key reused for a different call, executing nothing', async () => {
    const fx = await fixture();
    await fx.gate.call({ runId: 'r1', callId: 'call_1', principal: agent, tool: 'rollback', args: rollbackArgs });
    const other = await fx.gate.call({
      runId: 'r1',
      callId: 'call_1',
      principal: agent,
      tool: 'rollback',
      args: { ...rollbackArgs, reason: 'something else' },
    });
    expect(other).toMatchObject({
      status: 'invalid',
      error: expect.stringContaining('idempotency key r1:call_1 was already used'),
    });
    expect(rollbacks(fx)).toHaveLength(1);
  });

  it('runs a read-only call again: a fresh look does no harm', async () => {
    const fx = await fixture();
    const call = {
      runId: 'r1',
      callId: 'call_1',
      principal: agent,
      tool: 'registry_query',
      args: { action: 'list_models' },
    };
    await fx.gate.call(call);
    await fx.gate.call(call);
    expect(fx.backends.calls.filter((c) => c === 'registry.listModels')).toHaveLength(2);
    expect(await fx.executions.find('r1:call_1')).toBeUndefined();
  });

  it('lets one of two workers sharing the records execute a call both resume at once', async () => {
    const backends = memoryBackends();
    const executions = createMemoryExecutions();
    const [a, b] = [await fixture({ executions, backends }), await fixture({ executions, backends })];
    const call = { runId: 'r1', callId: 'call_1', principal: agent, tool: 'rollback', args: rollbackArgs };
    const outcomes = await Promise.all([a.gate.call(call), b.gate.call(call)]);
    // The loser of the race asks the backend, which keeps the key with the work: one rollback.
    expect(backends.calls.filter((c) => c.startsWith('deployer.rollback'))).toHaveLength(1);
    expect(outcomes.map((o) => o.status)).toEqual(['executed', 'executed']);
  });
});
