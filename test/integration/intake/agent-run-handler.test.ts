// The queue wired to the real agent loop (scripted planner, real gate, file run store),
// as `serve`/`worker` wire it.
import { afterEach, describe, expect, it } from 'vitest';
import { NO_RISK } from '../../../tools/index.js';
import { argsHashOf } from '../../../src/gate/index.js';
import { RUN_SCHEMA_VERSION, type Run, type Trigger } from '../../../src/agent/run.js';
import { agentRunHandler, createLocalRunQueue, type RunQueue } from '../../../src/intake/index.js';
import { type GateFixture } from '../../support/gate-fixture.js';
import { answer, call, scriptedPlanner } from '../../support/scripted-planner.js';
import { agentFixture } from '../../support/agent-fixture.js';

let fx: GateFixture | undefined;
let queue: RunQueue | undefined;
afterEach(async () => {
  await queue?.close();
  await fx?.cleanup();
});

function alert(group: string, n: number): Trigger {
  return {
    kind: 'alert',
    principal: { id: 'agent:alertmanager', roles: [] },
    alertName: 'DriftHigh',
    text: `DriftHigh firing #${n}`,
    data: { status: 'firing', groupKey: group },
  };
}

async function wired(
  turnsPerRun: () => Parameters<typeof scriptedPlanner>[0],
  options: { withApprovals?: boolean } = {},
) {
  const made = await agentFixture({ ...options, planner: () => scriptedPlanner(turnsPerRun()) });
  fx = made.fx;
  return { agent: made.agent, runs: made.runs };
}

describe('agentRunHandler', () => {
  it('runs the run when nobody listens for it settling', async () => {
    const { agent, runs } = await wired(() => [answer('nothing to do')]);
    const handler = agentRunHandler(agent, runs);
    await handler('run_without_listener', alert('g', 1));
    expect(await runs.get('run_without_listener')).toMatchObject({ status: 'succeeded', answer: 'nothing to do' });
  });

  it('stores one finished run per alert group, under the id the queue gave it', async () => {
    const { agent, runs } = await wired(() => [call('registry_query', { action: 'list_models' }), answer('checked')]);
    const settled: Run[] = [];
    let done!: () => void;
    const allDone = new Promise<void>((r) => (done = r));
    queue = createLocalRunQueue();
    const results = await Promise.all(
      Array.from({ length: 100 }, (_, i) => queue!.enqueue(alert(`g${i % 2}`, i), { dedupeKey: `g${i % 2}` })),
    );
    queue.process(agentRunHandler(agent, runs, { onSettled: (run) => settled.push(run) === 2 && done() }), {
      concurrency: 2,
    });
    await allDone;
    const ids = [...new Set(results.map((r) => r.runId))].sort();
    expect(ids).toHaveLength(2);
    const stored = await runs.list();
    expect(stored.map((r) => r.id).sort()).toEqual(ids);
    expect(stored.every((r) => r.status === 'succeeded' && r.answer === 'checked')).toBe(true);
  });

  it('resumes a run an earlier attempt stored, instead of starting it again', async () => {
    const { agent, runs } = await wired(() => [answer('finished after the crash')]);
    const trigger = alert('g', 0);
    const now = new Date().toISOString();
    // What a worker killed after its first save leaves behind.
    await runs.save({
      schemaVersion: RUN_SCHEMA_VERSION,
      id: 'run_crashed_1',
      trigger,
      status: 'running',
      planner: 'scripted',
      fallback: null,
      transcript: [{ kind: 'trigger', trigger: 'alert', text: trigger.text, data: trigger.data }],
      steps: 0,
      usage: { input: 0, output: 0 },
      answer: null,
      error: null,
      createdAt: now,
      updatedAt: now,
      endedAt: null,
    });
    const how: string[] = [];
    await agentRunHandler(agent, runs, { onSettled: (_, h) => how.push(h) })('run_crashed_1', trigger);
    const run = await runs.get('run_crashed_1');
    expect(how).toEqual(['resumed']);
    expect(run).toMatchObject({ status: 'succeeded', answer: 'finished after the crash' });
    expect(run!.transcript.filter((i) => i.kind === 'trigger')).toHaveLength(1);
  });

  describe('a run whose worker died after planning a call and before its result', () => {
    const rollbackArgs = { model: 'credit-risk', environment: 'production', reason: 'canary score drift' };
    // What the dead worker left: the plan saved, no result for its call.
    async function crashedDuringCall(runs: Awaited<ReturnType<typeof wired>>['runs'], id: string): Promise<void> {
      // A canary holds traffic, so the rollback has something to do.
      fx!.backends.splits.set('credit-risk/production', {
        model: 'credit-risk',
        environment: 'production',
        stableVersion: '1',
        canaryVersion: '2',
        canaryPercent: 5,
        lastKnownGoodVersion: '1',
      });
      const trigger = alert('g', 0);
      const now = new Date().toISOString();
      await runs.save({
        schemaVersion: RUN_SCHEMA_VERSION,
        id,
        trigger,
        status: 'running',
        planner: 'scripted',
        fallback: null,
        transcript: [
          { kind: 'trigger', trigger: 'alert', text: trigger.text, data: trigger.data },
          { kind: 'plan', text: 'roll back', calls: [{ id: 'call_1', name: 'rollback', args: rollbackArgs }] },
        ],
        steps: 1,
        usage: { input: 0, output: 0 },
        answer: null,
        error: null,
        createdAt: now,
        updatedAt: now,
        endedAt: null,
      });
    }
    const rollbacks = () => fx!.backends.calls.filter((c) => c.startsWith('deployer.rollback'));

    it('executes the call once if it had not been started, and goes on from there', async () => {
      const { agent, runs } = await wired(() => [answer('rolled back')]);
      await crashedDuringCall(runs, 'run_crashed_2');
      await agentRunHandler(agent, runs)('run_crashed_2', alert('g', 0));
      const run = (await runs.get('run_crashed_2'))!;
      expect(run).toMatchObject({ status: 'succeeded', answer: 'rolled back', steps: 2 });
      expect(run.transcript.find((i) => i.kind === 'result')).toMatchObject({
        callId: 'call_1',
        outcome: { status: 'executed' },
      });
      expect(rollbacks()).toHaveLength(1);
    });

    it('asks the backend about a call the dead worker had taken: one it never started is executed once, and the planner is told', async () => {
      let shown = '';
      const { agent, runs } = await wired(() => [
        (input) => {
          shown = JSON.stringify(input.transcript);
          return answer('rolled back after the restart');
        },
      ]);
      await crashedDuringCall(runs, 'run_crashed_3');
      // The dead worker had taken the call for execution: the key is taken, with no end.
      const decision = { effect: 'allow' as const, ruleId: 'r', reason: 'r', policy: 'default' };
      await fx!.executions.take({
        key: 'run_crashed_3:call_1',
        runId: 'run_crashed_3',
        callId: 'call_1',
        principal: { id: 'agent:alertmanager', roles: [] },
        tool: 'rollback',
        argsHash: argsHashOf(rollbackArgs),
        decision,
        risk: NO_RISK,
        approvalId: null,
        takenAt: new Date().toISOString(),
        end: null,
      });
      await agentRunHandler(agent, runs)('run_crashed_3', alert('g', 0));
      expect(await runs.get('run_crashed_3')).toMatchObject({
        status: 'succeeded',
        answer: 'rolled back after the restart',
      });
      expect(rollbacks()).toHaveLength(1);
      expect(shown).toContain('stopped before rollback');
      expect((await fx!.entries()).map((e) => e.kind)).toEqual(
        expect.arrayContaining(['call.replayed', 'execution.reconciled', 'execution.finished']),
      );
    });

    it('asks the backend about a call the dead worker had taken: one it had done is not done again', async () => {
      const { agent, runs } = await wired(() => [answer('already rolled back')]);
      await crashedDuringCall(runs, 'run_crashed_4');
      const decision = { effect: 'allow' as const, ruleId: 'r', reason: 'r', policy: 'default' };
      await fx!.executions.take({
        key: 'run_crashed_4:call_1',
        runId: 'run_crashed_4',
        callId: 'call_1',
        principal: { id: 'agent:alertmanager', roles: [] },
        tool: 'rollback',
        argsHash: argsHashOf(rollbackArgs),
        decision,
        risk: NO_RISK,
        approvalId: null,
        takenAt: new Date().toISOString(),
        end: null,
      });
      // The rollback had reached the deployer under the call's key before the worker died.
      await fx!.backends.deployer.rollback({
        model: rollbackArgs.model,
        environment: 'production',
        reason: rollbackArgs.reason,
        requestedBy: 'agent:alertmanager',
        idempotencyKey: 'run_crashed_4:call_1',
      });
      await agentRunHandler(agent, runs)('run_crashed_4', alert('g', 0));
      const run = (await runs.get('run_crashed_4'))!;
      expect(run).toMatchObject({ status: 'succeeded', answer: 'already rolled back' });
      expect(run.transcript.find((i) => i.kind === 'result')).toMatchObject({ outcome: { status: 'executed' } });
      expect(rollbacks()).toHaveLength(1);
    });
  });

  it('keeps a run parked while its approval waits, however often the queue hands it back', async () => {
    let plans = 0;
    const { agent, runs } = await wired(
      () => [
        () => {
          plans += 1;
          return call('deploy_canary', {
            model: 'credit-risk',
            version: '1',
            environment: 'production',
            trafficPercent: 25,
          });
        },
        answer('must not run'),
      ],
      { withApprovals: true },
    );
    const handler = agentRunHandler(agent, runs);
    // Parked: the queue keeps the alert group's key with the run.
    expect(await handler('run_parked_1', alert('g', 0))).toBe('parked');
    expect(await runs.get('run_parked_1')).toMatchObject({ status: 'waiting_approval', steps: 1 });
    // A redelivered job and an explicit resume both find the approval still pending.
    expect(await handler('run_parked_1', alert('g', 0))).toBe('parked');
    expect(await handler('run_parked_1', null)).toBe('parked');
    expect(await runs.get('run_parked_1')).toMatchObject({ status: 'waiting_approval', steps: 1 });
    expect(plans).toBe(1);
    expect(fx!.backends.calls.filter((c) => c.startsWith('deployer.'))).toEqual([]);
  });
});
