// A run waiting for a training job, with BullMQ and the run store on the real Redis (a
// prefix of its own): it parks and hands its worker back, the job's end resumes it through
// BullMQ, and a worker started after a restart finds and resumes a run whose job ended
// while no process watched it.
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { PlannerInput } from '../../../src/agent/planner.js';
import { createRedisRunStore, type RedisRunStore } from '../../../src/agent/redis-run-store.js';
import { isParked, type Trigger } from '../../../src/agent/run.js';
import { createWaitSweeper, type WaitSweeper } from '../../../src/agent/wait-sweeper.js';
import { systemClock } from '../../../src/clock.js';
import { agentRunHandler, createBullmqRunQueue, type RunQueue } from '../../../src/intake/index.js';
import { silentLogger } from '../../../src/logger.js';
import { eventually } from '../../support/cli-process.js';
import { gateFixture, type GateFixture } from '../../support/gate-fixture.js';
import { answer, call, scriptedPlanner } from '../../support/scripted-planner.js';
import { REDIS_URL, uniqueNames, wipe } from './redis-helpers.js';
import { testAgent } from '../../support/agent-fixture.js';

const names = uniqueNames();
const opened: { queues: RunQueue[]; sweepers: WaitSweeper[]; stores: RedisRunStore[] } = {
  queues: [],
  sweepers: [],
  stores: [],
};
let fx: GateFixture | undefined;

afterEach(async () => {
  for (const s of opened.sweepers.splice(0)) await s.stop();
  for (const q of opened.queues.splice(0)) await q.close({ force: true });
  for (const s of opened.stores.splice(0)) await s.close();
  await fx?.cleanup();
  fx = undefined;
});
const prefixes: string[] = [];
afterAll(async () => {
  for (const prefix of prefixes) await wipe(prefix, names.queueName);
});

const trigger = (text: string): Trigger => ({
  kind: 'chat',
  principal: { id: 'user:alice', roles: [] },
  text,
  data: null,
});
const report = (input: PlannerInput) => {
  const ended = input.transcript.find((i) => i.kind === 'wait');
  return answer(
    ended?.kind === 'wait' && ended.outcome.status === 'executed'
      ? `retrained: v${(ended.outcome.output as { version: string }).version}`
      : 'no end seen',
  );
};

/** One worker process: BullMQ with ONE slot, the Redis run store, and the wait sweeper. */
function worker(
  gate: GateFixture,
  prefix: string,
  retrainTurns: Parameters<typeof scriptedPlanner>[0] = [
    call('trigger_retrain', { model: 'credit-risk', dataset: 'credit-recent' }),
    report,
  ],
) {
  const runs = createRedisRunStore({ connection: REDIS_URL, prefix });
  const queue = createBullmqRunQueue({ connection: REDIS_URL, prefix, queueName: names.queueName, attempts: 1 });
  const planners = { retrain: scriptedPlanner(retrainTurns), question: scriptedPlanner([answer('v1 is champion')]) };
  const agent = testAgent({
    gate: gate.gate,
    audit: gate.audit,
    runs,
    plannerFor: (t) => planners[t.text as keyof typeof planners],
    longWaits: 'park',
  });
  const sweeper = createWaitSweeper({
    gate: gate.gate,
    runs,
    resume: (id) => queue.resume(id),
    clock: systemClock,
    logger: silentLogger,
  });
  queue.process(agentRunHandler(agent, runs, { onSettled: (run) => isParked(run.status) && sweeper.watch(run) }), {
    concurrency: 1,
  });
  opened.queues.push(queue);
  opened.sweepers.push(sweeper);
  opened.stores.push(runs);
  const status = (id: string, wanted: string) =>
    eventually(`run ${id} to be ${wanted}`, async () =>
      (await runs.get(id))?.status === wanted ? (await runs.get(id))! : undefined,
    );
  return { runs, queue, sweeper, planners, status };
}

describe('a run waiting for a training job, on BullMQ and Redis', () => {
  it('parks, frees its worker for another run, and is resumed through BullMQ when the job ends', async () => {
    fx = await gateFixture();
    fx.backends.holdJobs = true;
    const prefix = `${names.prefix}-a`;
    prefixes.push(prefix);
    const w = worker(fx, prefix);
    const { runId } = await w.queue.enqueue(trigger('retrain'));
    await w.status(runId, 'waiting');
    expect((await w.runs.list({ status: 'waiting' })).map((r) => r.id)).toEqual([runId]);

    const other = await w.queue.enqueue(trigger('question'));
    expect(await w.status(other.runId, 'succeeded')).toMatchObject({ answer: 'v1 is champion' });

    fx.backends.finishJob(`job-${runId}:call_1`);
    expect(await w.status(runId, 'succeeded')).toMatchObject({ answer: 'retrained: v2' });
    const entries = (await fx.entries()).filter((e) => e.runId === runId);
    expect(entries.filter((e) => e.kind === 'execution.finished')).toHaveLength(1);
    expect(fx.backends.calls.filter((c) => c.startsWith('trainer.start'))).toHaveLength(1);
  });

  it("after a restart, a new worker's sweep resumes a run whose job ended while no process watched it", async () => {
    fx = await gateFixture();
    fx.backends.holdJobs = true;
    const prefix = `${names.prefix}-b`;
    prefixes.push(prefix);
    const first = worker(fx, prefix);
    const { runId } = await first.queue.enqueue(trigger('retrain'));
    await first.status(runId, 'waiting');
    // The process stops; the job ends while nothing runs.
    await first.sweeper.stop();
    await first.queue.close();
    fx.backends.finishJob(`job-${runId}:call_1`);

    // Its planner takes up the run where the transcript ends (planners keep no state).
    const second = worker(fx, prefix, [report]);
    await second.sweeper.sweep();
    expect(await second.status(runId, 'succeeded')).toMatchObject({ answer: 'retrained: v2' });
    expect(second.planners.retrain.seen).toHaveLength(1);
    expect(second.planners.retrain.seen[0]!.transcript.at(-1)).toMatchObject({
      kind: 'wait',
      outcome: { status: 'executed', output: { version: '2' } },
    });
  });
});
