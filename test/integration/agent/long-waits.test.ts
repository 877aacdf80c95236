// Runs that wait for long-running work (a training job, a canary rollout) park like runs
// waiting for approval: the worker is free meanwhile, the work's end (or its deadline)
// resumes them through the queue, and the planner then sees how the call ended. The real
// loop, gate, audit log, file run store and local queue; in-memory backends whose jobs
// and canaries run until the test ends them.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { PlannerInput } from '../../../src/agent/planner.js';
import { isParked, type Run, type Trigger } from '../../../src/agent/run.js';
import { createFileRunStore, type RunStore } from '../../../src/agent/run-store.js';
import { createWaitSweeper, type WaitSweeper } from '../../../src/agent/wait-sweeper.js';
import { verifyAuditFile } from '../../../src/audit/index.js';
import { systemClock, type Clock } from '../../../src/clock.js';
import { agentRunHandler, createLocalRunQueue, type RunQueue } from '../../../src/intake/index.js';
import { silentLogger } from '../../../src/logger.js';
import { eventually } from '../../support/cli-process.js';
import { gateFixture, type GateFixture } from '../../support/gate-fixture.js';
import { manualClock } from '../../support/manual-clock.js';
import { version } from '../../support/memory-backends.js';
import { answer, call, scriptedPlanner, usage, type ScriptedTurn } from '../../support/scripted-planner.js';
import { testAgent } from '../../support/agent-fixture.js';

let fx: GateFixture | undefined;
let queue: RunQueue | undefined;
let waits: WaitSweeper | undefined;
afterEach(async () => {
  await waits?.stop();
  await queue?.close();
  await fx?.cleanup();
  fx = queue = waits = undefined;
});

const trigger = (text: string): Trigger => ({
  kind: 'chat',
  principal: { id: 'user:alice', roles: [] },
  text,
  data: null,
});
const retrain = call('trigger_retrain', { model: 'credit-risk', dataset: 'credit-recent' });

/** The answer a planner gives once it sees how the retrain (call_1) ended. */
const reportRetrain = (input: PlannerInput) => {
  const ended = input.transcript.find((i) => i.kind === 'wait' && i.callId === 'call_1');
  if (ended?.kind !== 'wait') return answer('the retrain has not ended');
  return answer(
    ended.outcome.status === 'executed'
      ? `retrained: v${(ended.outcome.output as { version: string }).version}`
      : `retrain failed: ${ended.outcome.status === 'failed' ? ended.outcome.error : ''}`,
  );
};

/** The loop, a queue with ONE worker, and the wait sweeper, wired as serve and worker wire them. */
async function wired(
  scripts: Record<string, ScriptedTurn[]>,
  options: { clock?: Clock; longWaits?: 'park' | 'in_process' } = {},
) {
  const clock = options.clock ?? systemClock;
  fx = await gateFixture({ withApprovals: true, clock });
  fx.backends.holdJobs = true;
  const runs: RunStore = createFileRunStore(join(fx.dir, 'runs'));
  const planners = Object.fromEntries(Object.entries(scripts).map(([text, turns]) => [text, scriptedPlanner(turns)]));
  const agent = testAgent({
    gate: fx.gate,
    audit: fx.audit,
    runs,
    plannerFor: (t) => planners[t.text]!,
    approvals: fx.approvals!,
    clock,
    longWaits: options.longWaits ?? 'park',
    waitPollMs: 20,
  });
  const q = createLocalRunQueue({ attempts: 1 });
  queue = q;
  const sweeper = createWaitSweeper({ gate: fx.gate, runs, resume: (id) => q.resume(id), clock, logger: silentLogger });
  waits = sweeper;
  q.process(agentRunHandler(agent, runs, { onSettled: (run) => isParked(run.status) && sweeper.watch(run) }), {
    concurrency: 1,
  });
  const status = (id: string, wanted: Run['status']) =>
    eventually(`run ${id} to be ${wanted}`, async () =>
      (await runs.get(id))?.status === wanted ? (await runs.get(id))! : undefined,
    );
  const entries = async (runId: string) => (await fx!.entries()).filter((e) => e.runId === runId);
  // A resume while the run's last attempt is still on the worker coalesces with it (the periodic sweep would try again).
  const idle = () => eventually('the queue to be idle', async () => ((await q.depth()) === 0 ? true : undefined));
  return { agent, runs, planners, queue: q, sweeper, status, entries, idle, backends: fx.backends };
}

describe('a run waiting for long-running work', () => {
  it('parks on a retrain, frees its only worker for another run, and resumes when the job ends with the output for the planner', async () => {
    const w = await wired({ retrain: [retrain, reportRetrain], question: [answer('v1 is champion')] });
    const { runId } = await w.queue.enqueue(trigger('retrain'));
    const parked = await w.status(runId, 'waiting');
    expect(parked.parkedAt).toEqual(expect.any(String));
    expect(parked.transcript.at(-1)).toMatchObject({
      kind: 'result',
      callId: 'call_1',
      outcome: {
        status: 'waiting',
        summary: `training job job-${runId}:call_1 running`,
        handle: { jobId: `job-${runId}:call_1` },
      },
    });
    expect((await w.runs.list({ status: 'waiting' })).map((r) => r.id)).toEqual([runId]);

    // One worker, and it is free: another run starts and ends while the job trains.
    const other = await w.queue.enqueue(trigger('question'));
    expect(await w.status(other.runId, 'succeeded')).toMatchObject({ answer: 'v1 is champion' });
    expect((await w.runs.get(runId))?.status).toBe('waiting');

    // The job's end signals the process that parked the run, which resumes it at once.
    w.backends.finishJob(`job-${runId}:call_1`);
    const done = await w.status(runId, 'succeeded');
    expect(done.answer).toBe('retrained: v2');
    expect(done.transcript.map((i) => i.kind)).toEqual(['trigger', 'plan', 'result', 'wait', 'answer']);
    expect(w.planners.retrain!.seen).toHaveLength(2);
    expect(w.planners.retrain!.seen[1]!.transcript.at(-1)).toMatchObject({
      kind: 'wait',
      callId: 'call_1',
      name: 'trigger_retrain',
      outcome: { status: 'executed', output: { status: 'succeeded', version: '2', promotable: true } },
    });

    const kinds = (await w.entries(runId)).map((e) => e.kind);
    expect(kinds.filter((k) => k === 'execution.started')).toHaveLength(1);
    expect(kinds.filter((k) => k === 'execution.finished')).toHaveLength(1);
    expect(kinds.filter((k) => k === 'run.parked')).toHaveLength(1);
    expect((await w.entries(runId)).find((e) => e.kind === 'run.parked')?.data).toMatchObject({
      approvals: [],
      waits: [{ callId: 'call_1', tool: 'trigger_retrain' }],
    });
    expect(w.backends.calls.filter((c) => c.startsWith('trainer.start'))).toHaveLength(1);
    expect((await verifyAuditFile(fx!.auditFile)).ok).toBe(true);
  });

  it('stays parked when resumed before the job ends, executing nothing twice, and the sweep resumes it once it has', async () => {
    const w = await wired({ retrain: [retrain, reportRetrain] });
    const { runId } = await w.queue.enqueue(trigger('retrain'));
    await w.status(runId, 'waiting');
    // What a redelivered job or a restart does: resume at once, before the job ended.
    expect((await w.agent.resume(runId)).status).toBe('waiting');
    await w.queue.resume(runId);
    await w.idle();
    await w.sweeper.sweep();
    await w.idle();
    expect((await w.runs.get(runId))?.status).toBe('waiting');
    expect(w.planners.retrain!.seen).toHaveLength(1);

    // Nothing watches it now (a new process after a restart): the periodic sweep finds the end.
    await w.sweeper.stop();
    w.backends.finishJob(`job-${runId}:call_1`);
    const restarted = createWaitSweeper({
      gate: fx!.gate,
      runs: w.runs,
      resume: (id) => w.queue.resume(id),
      clock: systemClock,
      logger: silentLogger,
    });
    await restarted.sweep();
    expect(await w.status(runId, 'succeeded')).toMatchObject({ answer: 'retrained: v2' });
    const kinds = (await w.entries(runId)).map((e) => e.kind);
    expect(kinds.filter((k) => k === 'execution.finished')).toHaveLength(1);
    expect(kinds.filter((k) => k === 'run.parked').length).toBeGreaterThanOrEqual(2);
    expect(w.backends.calls.filter((c) => c.startsWith('trainer.start'))).toHaveLength(1);
    // A sweep after the end finds nothing to resume.
    await restarted.sweep();
    expect(w.planners.retrain!.seen).toHaveLength(2);
  });

  it('resumes the run with a timeout failure once the job has outlived its deadline', async () => {
    const clock = manualClock();
    const w = await wired({ retrain: [retrain, reportRetrain] }, { clock });
    const { runId } = await w.queue.enqueue(trigger('retrain'));
    await w.status(runId, 'waiting');
    clock.advance(10 * 60_000 - 1);
    await w.sweeper.sweep();
    expect((await w.runs.get(runId))?.status).toBe('waiting');
    clock.advance(1);
    await w.sweeper.sweep();
    // The training it set out to do timed out: the run failed, whatever the planner answered.
    const done = await w.status(runId, 'failed');
    expect(done.answer).toMatch(
      /^retrain failed: timed out: trigger_retrain had not finished by its deadline 2026-01-01T00:10:00.000Z/,
    );
    expect(done.error).toMatch(/^failed: trigger_retrain \(timed out: /);
    expect(done.transcript.at(-2)).toMatchObject({ kind: 'wait', waitedMs: 600_000, outcome: { status: 'failed' } });
    // Parked time is not counted against the run's wall-clock budget (60 s here).
    expect(done.waitedMs).toBe(600_000);
    expect((await w.entries(runId)).filter((e) => e.kind === 'execution.failed')).toMatchObject([
      { data: { tool: 'trigger_retrain', timedOut: true } },
    ]);
  });

  it("waits for an approval and a job at once: listed as waiting for approval, it records the job's end, and plans again only when both are settled", async () => {
    const w = await wired({
      both: [
        {
          kind: 'calls',
          text: null,
          calls: [
            { name: 'trigger_retrain', args: { model: 'credit-risk', dataset: 'credit-recent' } },
            {
              name: 'deploy_canary',
              args: { model: 'credit-risk', version: '2', environment: 'production', trafficPercent: 25 },
            },
          ],
          usage: usage(),
        },
        answer('both done'),
      ],
    });
    w.backends.versions.push(version('credit-risk', '2', 0.88));
    const { runId } = await w.queue.enqueue(trigger('both'));
    await w.status(runId, 'waiting_approval');
    expect((await w.runs.list({ status: 'waiting' })).map((r) => r.id)).toEqual([]);

    // The job ends first: the run resumes, records it, and parks again for the people.
    w.backends.finishJob(`job-${runId}:call_1`);
    await eventually("the job's end in the transcript", async () =>
      (await w.runs.get(runId))?.transcript.some((i) => i.kind === 'wait') ? true : undefined,
    );
    const between = await w.status(runId, 'waiting_approval');
    expect(between.transcript.filter((i) => i.kind === 'wait')).toMatchObject([
      { callId: 'call_1', outcome: { status: 'executed', output: { version: '3' } } },
    ]);
    expect(w.planners.both!.seen).toHaveLength(1);

    const [approval] = await fx!.approvals!.list({ runId });
    expect(
      await fx!.approvals!.decide(approval!.id, {
        approverId: 'user:bob',
        verdict: 'grant',
        comment: null,
        via: 'http',
      }),
    ).toMatchObject({ ok: true, resolved: true });
    await w.idle();
    await w.queue.resume(runId);
    const done = await w.status(runId, 'succeeded');
    expect(done.transcript.map((i) => i.kind)).toEqual([
      'trigger',
      'plan',
      'result',
      'result',
      'wait',
      'approval',
      'answer',
    ]);
    expect(w.planners.both!.seen).toHaveLength(2);
    expect(
      w.backends.calls.filter((c) => c.startsWith('trainer.start') || c.startsWith('deployer.startCanary')),
    ).toEqual(['trainer.start:credit-recent', 'deployer.startCanary:2@25']);
  });

  it('parks on a canary that is still stepping and resumes with the rollout once it stops at its target', async () => {
    const w = await wired({
      canary: [
        call('deploy_canary', { model: 'credit-risk', version: '2', environment: 'production', trafficPercent: 5 }),
        (input) => answer(JSON.stringify(input.transcript.at(-1))),
      ],
    });
    w.backends.versions.push(version('credit-risk', '2', 0.88));
    w.backends.holdCanaries = true;
    const { runId } = await w.queue.enqueue(trigger('canary'));
    const parked = await w.status(runId, 'waiting');
    expect(parked.transcript.at(-1)).toMatchObject({
      outcome: { status: 'waiting', summary: 'canary of credit-risk v2 stepping up to 5% in production' },
    });
    w.backends.endCanary('credit-risk', 'production');
    const done = await w.status(runId, 'succeeded');
    expect(JSON.parse(done.answer!)).toMatchObject({
      kind: 'wait',
      name: 'deploy_canary',
      outcome: { status: 'executed', output: { status: 'paused', canaryPercent: 5, targetPercent: 5 } },
    });
  });

  it('resumes a run stored parked on a training job (the version 1 fixture) once the job has ended', async () => {
    const w = await wired({ 'ModelDriftDetected firing: PSI 0.41': [reportRetrain] });
    const fixture = JSON.parse(
      await readFile(new URL('../../fixtures/runs/v1-run-waiting.json', import.meta.url), 'utf8'),
    ) as Run;
    await w.runs.save(fixture);
    w.backends.holdJobs = false;
    await w.backends.trainer.start({
      model: 'credit-risk',
      dataset: 'credit-recent',
      params: {},
      searchTrials: 4,
      requestedBy: 'agent:alerts',
      idempotencyKey: 'run_fixture_waiting:call_1',
    });
    await w.sweeper.sweep();
    const done = await w.status(fixture.id, 'succeeded');
    expect(done.answer).toBe('retrained: v2');
    expect(done.transcript.at(-2)).toMatchObject({
      kind: 'wait',
      callId: 'call_1',
      outcome: { status: 'executed', output: { jobId: 'job-run_fixture_waiting:call_1' } },
    });
  });

  it('in a single-process command (chat, demo) waits for the job where it runs, without parking', async () => {
    const w = await wired({ retrain: [retrain, reportRetrain] }, { longWaits: 'in_process' });
    const running = w.agent.start(trigger('retrain'));
    const job = await eventually('the job to start', async () => [...w.backends.jobs.keys()][0]);
    w.backends.finishJob(job);
    const done = await running;
    expect(done).toMatchObject({ status: 'succeeded', answer: 'retrained: v2' });
    expect(done.transcript.map((i) => i.kind)).toEqual(['trigger', 'plan', 'result', 'wait', 'answer']);
    expect((await w.entries(done.id)).map((e) => e.kind)).not.toContain('run.parked');
  });
});
