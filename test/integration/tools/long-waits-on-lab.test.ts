// A run on the real local lab that parks twice: on a retrain (logistic regression in a
// worker thread) and on a staging canary (stepping over live HTTP traffic). Nothing sweeps
// on a timer here: each time, the lab's own completion signal resumes the run through the
// queue, and the planner sees the job's version and the rollout.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allTools } from '../../../tools/index.js';
import type { PlannerInput } from '../../../src/agent/planner.js';
import { isParked, type Run } from '../../../src/agent/run.js';
import { createFileRunStore } from '../../../src/agent/run-store.js';
import { createWaitSweeper, type WaitSweeper } from '../../../src/agent/wait-sweeper.js';
import { openFileAuditLog, readAuditEntries, verifyAuditFile, type AuditLog } from '../../../src/audit/index.js';
import { systemClock } from '../../../src/clock.js';
import {
  createTrafficSimulator,
  generateCreditRows,
  openLocalLab,
  writeDataset,
  type LocalLab,
  type ModelServer,
  type TrafficSimulator,
} from '../../../src/backends/local/index.js';
import { agentRunHandler, createLocalRunQueue, type RunQueue } from '../../../src/intake/index.js';
import { silentLogger } from '../../../src/logger.js';
import { defaultPolicyDir } from '../../../src/paths.js';
import { createGate } from '../../../src/gate/index.js';
import { createPolicyStore } from '../../../src/policy/index.js';
import { eventually } from '../../support/cli-process.js';
import { answer, call, scriptedPlanner } from '../../support/scripted-planner.js';
import { daysAgo } from '../../support/dates.js';
import { testAgent, testLimits } from '../../support/agent-fixture.js';

let home: string;
let lab: LocalLab;
let audit: AuditLog;
let server: ModelServer;
let traffic: TrafficSimulator;
let queue: RunQueue;
let waits: WaitSweeper;

beforeAll(async () => {
  home = mkdtempSync(join(tmpdir(), 'mlops-long-waits-lab-'));
  lab = await openLocalLab({
    config: {
      home,
      qualityGates: { minAuc: 0.82, maxCalibrationError: 0.05, maxP99LatencyMs: 50, maxParityGap: 0.05 },
    },
    logger: silentLogger,
    analysis: {
      minRequestsPerStep: 200,
      minLabelsPerStep: 200,
      minAccuracyDelta: -0.05,
      maxScoreShiftPsi: 1,
      stepTimeoutMs: 60_000,
    },
    steps: [10, 50, 100],
  });
  await writeDataset(
    lab.dirs.datasets,
    'credit-train',
    generateCreditRows({ seed: 21, rows: 5000, startDate: daysAgo(150), days: 90 }),
  );
  const recent = generateCreditRows({
    seed: 22,
    rows: 5000,
    startDate: daysAgo(30),
    days: 30,
    drift: { incomeShift: 0.75, utilizationShift: 0.2, conceptShift: 1 },
  });
  await writeDataset(lab.dirs.datasets, 'credit-recent', recent);
  // Checked, as the data pipeline would: the shipped policy trains only on checked data.
  expect((await lab.dataQuality.check('credit-recent')).passed).toBe(true);
  const job = await lab.trainer.start({
    model: 'credit-risk',
    dataset: 'credit-train',
    params: {},
    requestedBy: 'test:setup',
  });
  const v1 = await lab.trainer.waitFor(job.jobId, { timeoutMs: 120_000 });
  await lab.registry.setAlias('credit-risk', 'champion', v1.version!, 'test:setup', 'seed');
  await lab.deployer.serve('credit-risk', 'staging', v1.version!);
  server = await lab.serve({ host: '127.0.0.1', port: 0 });
  traffic = createTrafficSimulator({
    url: server.url,
    model: 'credit-risk',
    environment: 'staging',
    rows: recent,
    feedbackDelayMs: 50,
    concurrency: 4,
  });
  traffic.start(400);
  audit = await openFileAuditLog({ file: join(home, 'audit.jsonl') });
});

afterAll(async () => {
  await waits?.stop();
  await queue?.close();
  await traffic?.stop();
  await audit?.close();
  await lab?.close();
  rmSync(home, { recursive: true, force: true });
});

/** The version the retrain (call_1) registered, once the planner has seen it end. */
const retrained = (input: PlannerInput) => {
  const ended = input.transcript.find((i) => i.kind === 'wait' && i.callId === 'call_1');
  return ended?.kind === 'wait' && ended.outcome.status === 'executed'
    ? (ended.outcome.output as { version: string }).version
    : null;
};

describe('waiting on the real lab', () => {
  it("parks on the training job and on the canary, and each one's completion resumes the run", async () => {
    const policy = await createPolicyStore({
      files: [join(defaultPolicyDir, 'default.yaml')],
      knownTools: allTools.map((t) => t.name),
    });
    const gate = createGate({ tools: allTools, backends: lab, policy: (req) => policy.evaluate(req), audit });
    const runs = createFileRunStore(join(home, 'runs'));
    const planner = scriptedPlanner([
      call('trigger_retrain', { model: 'credit-risk', dataset: 'credit-recent', searchTrials: 2 }),
      (input) =>
        call('deploy_canary', {
          model: 'credit-risk',
          version: retrained(input) ?? 'none',
          environment: 'staging',
          trafficPercent: 50,
        }),
      (input) => answer(`v${retrained(input)}: ${JSON.stringify(input.transcript.at(-1))}`),
    ]);
    const agent = testAgent({
      gate,
      audit,
      runs,
      plannerFor: () => planner,
      limits: { ...testLimits, maxWallMs: 120_000 },
      longWaits: 'park',
    });
    queue = createLocalRunQueue({ attempts: 1 });
    // Not started: no periodic sweep, so only the lab's completion signals can resume the run.
    waits = createWaitSweeper({
      gate,
      runs,
      resume: (id) => queue.resume(id),
      clock: systemClock,
      logger: silentLogger,
    });
    const settled: { status: Run['status']; open: string | null }[] = [];
    queue.process(
      agentRunHandler(agent, runs, {
        onSettled: (run) => {
          const last = run.transcript.at(-1);
          settled.push({
            status: run.status,
            open: last?.kind === 'result' && last.outcome.status === 'waiting' ? last.name : null,
          });
          if (isParked(run.status)) waits.watch(run);
        },
      }),
      { concurrency: 1 },
    );

    const { runId } = await queue.enqueue({
      kind: 'chat',
      principal: { id: 'user:alice', roles: [] },
      text: 'retrain and canary',
      data: null,
    });
    const done = await eventually(
      'the run to end',
      async () => {
        const run = await runs.get(runId);
        return run && !isParked(run.status) && run.status !== 'running' ? run : undefined;
      },
      120_000,
    );

    expect(done.status, done.error ?? '').toBe('succeeded');
    // The run is stored as ended a moment before its worker hears it settled.
    await eventually('the worker to hear the run settled', async () => (settled.length >= 3 ? true : undefined));
    // The worker was handed back twice: once while the job trained, once while the canary stepped.
    expect(settled).toEqual([
      { status: 'waiting', open: 'trigger_retrain' },
      { status: 'waiting', open: 'deploy_canary' },
      { status: 'succeeded', open: null },
    ]);
    expect(done.answer).toMatch(/^v2: /);
    const last = JSON.parse(done.answer!.slice('v2: '.length)) as {
      kind: string;
      outcome: { status: string; output: { status: string; canaryPercent: number; analyses: { passed: boolean }[] } };
    };
    expect(last).toMatchObject({
      kind: 'wait',
      outcome: { status: 'executed', output: { status: 'paused', canaryVersion: '2', canaryPercent: 50 } },
    });
    expect(last.outcome.output.analyses.map((a) => a.passed)).toEqual([true, true]);
    expect(
      await lab.trainer.getExperiment(
        (done.transcript.find((i) => i.kind === 'wait')! as { outcome: { output: { jobId: string } } }).outcome.output
          .jobId,
      ),
    ).toMatchObject({ status: 'succeeded', searchTrials: 2, version: '2' });

    const entries = (await readAuditEntries(join(home, 'audit.jsonl'))).filter((e) => e.runId === runId);
    for (const tool of ['trigger_retrain', 'deploy_canary']) {
      expect(entries.filter((e) => e.data.tool === tool).map((e) => e.kind)).toEqual([
        'call.proposed',
        'policy.decision',
        'execution.started',
        'execution.waiting',
        'execution.finished',
      ]);
    }
    expect(entries.filter((e) => e.kind === 'run.resumed')).toHaveLength(2);
    expect((await verifyAuditFile(join(home, 'audit.jsonl'))).ok).toBe(true);
  });
});
