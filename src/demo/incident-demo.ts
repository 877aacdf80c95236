// The incident demo `npm start` runs on the local lab: seed and serve a champion, send
// traffic, inject drift, let the monitor raise an Alertmanager alert, and let the agent
// answer it through the gate; then verify the audit log. In `bad-canary` the recent data
// comes with income in thousands: its data contract's range rule fails it, so it is never
// trained on (the runbook stops, and a direct request to train is refused). In
// `canary-regression` it comes with credit history in years, inside every rule: the
// candidate passes the contract and the offline gates, fails its canary analysis and is
// rolled back.
import { rm } from 'node:fs/promises';
import { isAbsolute, join, relative } from 'node:path';
import type { Run } from '../agent/run.js';
import { verifyAuditFile } from '../audit/index.js';
import type { Config } from '../app/config.js';
import {
  createMonitor,
  createTrafficSimulator,
  generateCreditRows,
  readDataset,
  writeDataset,
  type AlertmanagerPayload,
  type CreditGeneratorOptions,
  type LocalLab,
  type TrafficSimulator,
} from '../backends/local/index.js';
import { alertmanagerTrigger } from '../intake/alertmanager-payload.js';
import type { Logger } from '../logger.js';
import { stillNeeded } from '../approvals/index.js';
import { buildDemo } from '../app/app.js';
import type { Runtime } from '../app/runtime.js';
import { formatRunSummary, formatTranscriptItem } from '../cli/timeline.js';
import { createWaitProgress, labProgressSources, type WaitProgress } from '../cli/output/progress.js';

export type Scenario = 'drift' | 'bad-canary' | 'canary-regression';
export const SCENARIOS: Scenario[] = ['drift', 'bad-canary', 'canary-regression'];

/** What the upstream export of recent applications gets wrong in each scenario. */
const EXPORT_BUGS: Record<
  Scenario,
  { options: Pick<CreditGeneratorOptions, 'incomeUnit' | 'historyUnit'>; says: string }
> = {
  drift: { options: {}, says: '' },
  'bad-canary': { options: { incomeUnit: 'kusd' }, says: ' (by an ETL that now reports income in thousands)' },
  'canary-regression': {
    options: { historyUnit: 'years' },
    says: " (by an ETL that now reports credit history in years: inside the contract's 0..720)",
  },
};

const MODEL = 'credit-risk';
const ENVIRONMENT = 'production';
const TRAIN_ROWS = 6000;
const RECENT_ROWS = 4000;
const TRAFFIC_PER_SECOND = 600;

export interface DemoResult {
  run: Run | null;
  auditOk: boolean;
  auditEntries: number;
}

type Print = (line: string) => void;

function when(): string {
  return new Date().toISOString().slice(11, 19);
}

/** YYYY-MM-DD `days` before today: the demo's data is as fresh as its contract expects. */
function daysAgo(days: number): string {
  return new Date(Date.now() - days * 86_400_000).toISOString().slice(0, 10);
}

async function seed(lab: LocalLab, print: Print): Promise<void> {
  const version = await writeDataset(
    lab.dirs.datasets,
    'credit-train',
    generateCreditRows({ seed: 1, rows: TRAIN_ROWS, startDate: daysAgo(210), days: 180 }),
  );
  print(`seed      credit-train: ${TRAIN_ROWS} applications (data version ${version.slice(0, 12)})`);
  await lab.registry.createModel(MODEL, 'Probability of default for consumer credit applications');
  const job = await lab.trainer.start({
    model: MODEL,
    dataset: 'credit-train',
    params: {},
    searchTrials: 2,
    requestedBy: 'demo:seed',
  });
  const done = await lab.trainer.waitFor(job.jobId, { timeoutMs: 5 * 60_000 });
  if (done.status !== 'succeeded' || !done.version)
    throw new Error(`seeding the champion failed: ${done.error ?? done.status}`);
  const v = (await lab.registry.getVersion(MODEL, done.version))!;
  const m = v.metrics;
  print(
    `seed      trained ${MODEL} v${v.version}: AUC ${m.auc?.toFixed(3)}, calibration error ${m.calibration_error?.toFixed(3)}, parity gap ${((m.parity_gap ?? 0) * 100).toFixed(1)} pts, p99 ${m.p99_latency_ms?.toFixed(3)} ms`,
  );
  await lab.registry.setAlias(MODEL, 'champion', v.version, 'demo:seed', 'initial champion');
  await lab.deployer.serve(MODEL, ENVIRONMENT, v.version, 'demo:seed');
  print(`seed      v${v.version} is champion and serves 100% of ${ENVIRONMENT}`);
}

/**
 * Decides the run's pending approvals as `approvers`, each in turn, through the approvals
 * service (roles from the policy, self-approval refused, every vote audited) as they would
 * in Slack or with the CLI; then resumes the run, which executes what was granted once.
 */
async function approveAndResume(runtime: Runtime, run: Run, approvers: readonly string[], print: Print): Promise<Run> {
  for (const approval of await runtime.approvals.list({ status: 'pending', runId: run.id })) {
    for (const approverId of approvers) {
      const result = await runtime.approvals.decide(approval.id, {
        approverId,
        verdict: 'grant',
        comment: 'approved at the demo (--approve-as)',
        via: 'cli',
      });
      const roles = runtime.policy.current().rolesOf(approverId);
      const what = result.ok
        ? result.resolved
          ? 'granted'
          : `recorded; ${stillNeeded(result.approval)}`
        : `refused (${result.code}): ${result.message}`;
      print(
        `${when()}  approve   ${approverId} [${roles.join(', ') || 'no roles'}] approves ${approval.tool} (${approval.id}): ${what}`,
      );
    }
  }
  return runtime.agent.resume(run.id);
}

export async function runIncidentDemo(options: {
  config: Config;
  logger: Logger;
  scenario: Scenario;
  approveAs?: readonly string[];
  print?: Print;
}): Promise<DemoResult> {
  const { config, logger, scenario } = options;
  const print = options.print ?? ((line) => process.stdout.write(`${line}\n`));
  // The demo lab is rebuilt each time; the audit log is the operator's and only grows.
  const demoHome = join(config.home, 'demo');
  await rm(demoHome, { recursive: true, force: true });
  print(`${when()}  mlops-agent demo, scenario ${scenario}; lab in ${demoHome}`);
  let progress: WaitProgress | null = null;
  const app = await buildDemo(config, logger, {
    onEvent: (run, item) => {
      const line = () => print(formatTranscriptItem(item, run.updatedAt));
      if (progress) progress.onItem(item, line);
      else line();
    },
    lab: {
      home: demoHome,
      // A retrained model scores drifted traffic differently from the stale champion by
      // design, so the score shift bound is wide; a unit bug moves scores far beyond it.
      analysis: {
        minRequestsPerStep: 150,
        minLabelsPerStep: 150,
        minAccuracyDelta: -0.05,
        maxScoreShiftPsi: 1,
        stepTimeoutMs: 60_000,
      },
      // The demo starts canaries at 5% so a step gathers enough traffic in seconds.
      steps: [5, 25, 100],
    },
  });
  const { runtime } = app;
  const { lab } = app.backends;
  // While the run waits for training or a canary step, a live line says how far it got.
  progress = createWaitProgress(labProgressSources(lab));
  print(
    `${when()}  planner   ${runtime.llm ? runtime.llm.name : 'runbooks (no GEMINI_API_KEY or OPENAI_BASE_URL set)'}`,
  );
  const server = await lab.serve({ host: '127.0.0.1', port: 0 });
  let simulator: TrafficSimulator | null = null;
  let run: Run | null = null;
  try {
    await seed(lab, (l) => print(`${when()}  ${l}`));
    const train = (await readDataset(lab.dirs.datasets, 'credit-train')).rows;
    simulator = createTrafficSimulator({
      url: server.url,
      model: MODEL,
      environment: ENVIRONMENT,
      rows: train,
      feedbackDelayMs: 200,
      concurrency: 8,
    });
    await simulator.send(400);
    print(`${when()}  traffic   400 applications like the training data served by ${server.url}`);

    // The drift: incomes fall, utilisation rises and the relation to default shifts. In
    // the other scenarios the export of recent applications also has a unit bug.
    const recent = {
      seed: 2,
      rows: RECENT_ROWS,
      startDate: daysAgo(30),
      days: 30,
      drift: { incomeShift: 0.75, utilizationShift: 0.2, conceptShift: 1 },
    };
    const drifted = generateCreditRows(recent);
    const bug = EXPORT_BUGS[scenario];
    await writeDataset(lab.dirs.datasets, 'credit-recent', generateCreditRows({ ...recent, ...bug.options }));
    print(
      `${when()}  drift     injected: incomes -25%, utilisation +0.2, risk relations shifted; recent applications exported to credit-recent${bug.says}`,
    );
    await simulator.stop();
    simulator = createTrafficSimulator({
      url: server.url,
      model: MODEL,
      environment: ENVIRONMENT,
      rows: drifted,
      feedbackDelayMs: 200,
      concurrency: 8,
    });
    await simulator.send(600);

    const alerts: AlertmanagerPayload[] = [];
    const monitor = createMonitor({
      stats: lab.stats,
      splits: lab.deployer,
      artifacts: lab.registry,
      referenceRows: async (model, version) => {
        const v = await lab.registry.getVersion(model, version);
        return (await readDataset(lab.dirs.datasets, v?.dataset ?? 'credit-train')).rows;
      },
      sink: async (payload) => {
        alerts.push(payload);
      },
      clock: { now: () => Date.now() },
      logger,
      rules: { windowMs: 2_000, minRows: 200 },
      datasetFor: () => 'credit-recent',
    });
    await monitor.evaluate();
    const firing = alerts.find((p) => p.status === 'firing');
    if (!firing) {
      print(`${when()}  monitor   no alert fired; the drift was too small for the rules`);
      return finish(runtime, null, print);
    }
    for (const alert of firing.alerts)
      print(
        `${when()}  monitor   Alertmanager payload (v4) firing ${alert.labels.alertname} ${alert.labels.model}/${alert.labels.environment}: ${alert.annotations.summary ?? ''}`,
      );

    // Traffic keeps flowing while the agent works, so the canary analysis has data.
    simulator.start(TRAFFIC_PER_SECOND);
    run = await runtime.agent.start(alertmanagerTrigger(firing).trigger);
    print(`${when()}  ${formatRunSummary(run)}`);
    if (run.status === 'waiting_approval' && options.approveAs?.length) {
      run = await approveAndResume(runtime, run, options.approveAs, print);
      print(`${when()}  ${formatRunSummary(run)}`);
    }
    if (scenario === 'bad-canary') await showRefusal(runtime, lab, print);
    progress.stop();
    const split = await lab.deployer.getSplit(MODEL, ENVIRONMENT);
    if (split)
      print(
        `${when()}  serving   ${MODEL}/${ENVIRONMENT}: stable v${split.stableVersion}${split.canaryVersion ? `, canary v${split.canaryVersion} at ${split.canaryPercent}%` : ''}; last known good v${split.lastKnownGoodVersion}`,
      );
    return await finish(runtime, run, print);
  } finally {
    progress.stop();
    await simulator?.stop();
    await app.close();
  }
}

const shortPath = (source: string) => {
  const rel = relative(process.cwd(), source);
  return rel.startsWith('..') || isAbsolute(rel) ? source : rel;
};

/**
 * The data the run refused to train on, rule by rule (looked up, not checked again), and
 * what the gate answers someone who asks to train on it anyway, as an MCP client could.
 */
async function showRefusal(runtime: Runtime, lab: LocalLab, print: Print): Promise<void> {
  const report = await lab.dataQuality.check('credit-recent');
  for (const v of report.violations.filter((x) => x.severity === 'hard')) {
    const example = v.examples[0]
      ? `; e.g. row ${v.examples[0].row}: ${Object.entries(v.examples[0].values)
          .map(([k, x]) => `${k}=${x ?? 'empty'}`)
          .join(' ')}`
      : '';
    print(
      `${when()}  data      credit-recent breaks hard rule ${v.rule} (${shortPath(v.source)}) in ${v.rowsAffected} of ${report.rows} rows${example}`,
    );
  }
  const args = { model: MODEL, dataset: 'credit-recent', searchTrials: 4 };
  print(
    `${when()}  ask       user:operator asks to train anyway: trigger_retrain ${JSON.stringify(args)}, directly as an MCP client would`,
  );
  const outcome = await runtime.gate.call({
    runId: null,
    callId: `demo-${Date.now().toString(36)}`,
    principal: { id: 'user:operator', roles: [] },
    tool: 'trigger_retrain',
    args,
  });
  if (outcome.status === 'refused')
    print(`${when()}  REFUSED   trigger_retrain: ${outcome.decision.reason} [rule ${outcome.decision.ruleId}]`);
  else
    print(
      `${when()}  ${outcome.status.toUpperCase()}  trigger_retrain: the gate did not refuse it (${outcome.status}); check the policy in force`,
    );
}

async function finish(runtime: Runtime, run: Run | null, print: Print): Promise<DemoResult> {
  const verified = await verifyAuditFile(runtime.config.auditFile);
  print(
    verified.ok
      ? `${when()}  audit     audit log intact: ${verified.entries} entries, last hash ${verified.lastHash.slice(0, 16)}… (${runtime.config.auditFile})`
      : `${when()}  audit     audit log BROKEN at seq ${verified.firstBadSeq}: ${verified.problem}`,
  );
  return { run, auditOk: verified.ok, auditEntries: verified.entries };
}
