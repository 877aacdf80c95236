// A call with side effects is executed once per idempotency key, whichever worker or
// attempt asks: a later attempt is told how the first ended, or that its end is unknown.
import { afterEach, describe, expect, it } from 'vitest';
import { createMemoryExecutions } from '../../../src/policy/index.js';
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
    fx.backends.splits.set('credit-risk/production', { model: 'credit-risk', environment: 'production', stableVersion: '1', canaryVersion: '2', canaryPercent: 5, lastKnownGoodVersion: '1' });
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

  it('never executes a call an earlier attempt took and did not finish, and says to check the state', async () => {
    const fx = await fixture();
    // What a worker killed during the rollback leaves: the key taken, no end.
    const taken = await fx.gate.call({ runId: 'r1', callId: 'call_1', principal: agent, tool: 'rollback', args: rollbackArgs });
    expect(taken.status).toBe('executed');
    const record = (await fx.executions.find('r1:call_1'))!;
    const executions = createMemoryExecutions();
    await executions.take({ ...record, end: null });
    const resumed = await fixture({ executions, backends: fx.backends });
    const outcome = await resumed.gate.call({ runId: 'r1', callId: 'call_1', principal: agent, tool: 'rollback', args: rollbackArgs });
    expect(outcome).toMatchObject({ status: 'failed', error: expect.stringContaining('has recorded no end (it is still under way elsewhere, or its worker stopped); it was not executed again: check the current state') });
    expect(rollbacks(fx)).toHaveLength(1);
    expect((await resumed.entries()).map((e) => e.kind)).toEqual(['call.proposed', 'call.replayed']);
  });

  it('refuses a key reused for a different call, executing nothing', async () => {
    const fx = await fixture();
    await fx.gate.call({ runId: 'r1', callId: 'call_1', principal: agent, tool: 'rollback', args: rollbackArgs });
    const other = await fx.gate.call({ runId: 'r1', callId: 'call_1', principal: agent, tool: 'rollback', args: { ...rollbackArgs, reason: 'something else' } });
    expect(other).toMatchObject({ status: 'invalid', error: expect.stringContaining('idempotency key r1:call_1 was already used') });
    expect(rollbacks(fx)).toHaveLength(1);
  });

  it('runs a read-only call again: a fresh look does no harm', async () => {
    const fx = await fixture();
    const call = { runId: 'r1', callId: 'call_1', principal: agent, tool: 'registry_query', args: { action: 'list_models' } };
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
    expect(backends.calls.filter((c) => c.startsWith('deployer.rollback'))).toHaveLength(1);
    // The loser of the race is told the call is under way elsewhere.
    expect(outcomes.map((o) => o.status).sort()).toEqual(['executed', 'failed']);
    expect(outcomes.find((o) => o.status === 'failed')).toMatchObject({ error: expect.stringContaining('still under way elsewhere') });
  });
});
