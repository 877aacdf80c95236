// How often the canary analysis fails a canary identical to the stable version (a false
// rollback), and how fast it rolls back bad ones, old rules against new in the same run.
// The model is the lab's real logistic regression trained on the lab's credit data; the
// windows come from the real router, scorer and serving stats (canary-traffic.ts); the
// thresholds are the lab's defaults (LAB_CANARY_ANALYSIS). A window holds the traffic in
// which the canary answered minRequestsPerStep requests: a step's window, and a held
// canary's window when traffic gives it 100 requests a minute (2,000 req/min at 5%), the
// most analyses an hour of holding gets at the default interval.
// Run: npm run bench:canary   (about 2 minutes on 2 cores)
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { analyseCanary } from '../src/backends/local/canary-analysis.js';
import { DEFAULT_FAILURES_TO_ROLLBACK } from '../src/backends/local/canary-watch.js';
import { generateCreditRows } from '../src/backends/local/credit-generator.js';
import type { CreditRow } from '../src/backends/local/credit-schema.js';
import { writeDataset } from '../src/backends/local/dataset-store.js';
import { LAB_CANARY_ANALYSIS } from '../src/backends/local/index.js';
import type { ModelArtifact } from '../src/backends/local/model-artifact.js';
import { createRandom } from '../src/backends/local/random.js';
import { createLocalRegistry } from '../src/backends/local/registry.js';
import { createServingStats } from '../src/backends/local/serving-stats.js';
import { runTrainingPipeline } from '../src/backends/local/training-pipeline.js';
import { analyseCanaryBaseline } from './canary-baseline.js';
import { analysesToRollback, rollbackWithin, upper95 } from './canary-odds.js';
import { benchClock, createFeeder, heldRollout, MINUTE, MODEL } from './canary-traffic.js';

const K = DEFAULT_FAILURES_TO_ROLLBACK;
const SHARES = [5, 25];
const IDENTICAL_WINDOWS = Number(process.env.BENCH_WINDOWS ?? 5_000);
const BAD_WINDOWS = 500;
const HELD_HOURS = 10;
const BAD_ROLLOUTS = 10;
const T = LAB_CANARY_ANALYSIS;
/** The lower confidence an operator may choose for faster detection, measured beside the default. */
const LOWER_CONFIDENCE = 0.95;
const GATES = { minAuc: 0, maxCalibrationError: 1, maxP99LatencyMs: 1000, maxParityGap: 1 };
const DRIFT = { incomeShift: 0.75, utilizationShift: 0.2, conceptShift: 1 };

interface Scenario {
  name: string;
  artifact: ModelArtifact;
}

interface Fails {
  labels: number;
  none: number;
}

interface Rates {
  windows: number;
  old: Fails;
  new: Fails;
  lower: Fails;
  /** Failed checks of the new analysis, with labels, by name. */
  newFailedChecks: Map<string, number>;
}

/** Fails of both analyses on the same windows, with the labels and with them taken away. */
function perAnalysis(
  stable: ModelArtifact,
  canary: ModelArtifact,
  rows: () => CreditRow,
  share: number,
  windows: number,
  seed: number,
  t = T,
): Rates {
  const clock = benchClock();
  // Rings a little over two windows long: window() scans the whole ring, and older traffic is never read.
  const capacity = Math.ceil((2.5 * t.minRequestsPerStep * 100) / share);
  const stats = createServingStats({ clock, maxRequests: capacity, maxPredictions: capacity });
  const split = {
    model: MODEL,
    environment: 'production' as const,
    stableVersion: '1',
    canaryVersion: '2',
    canaryPercent: share,
    lastKnownGoodVersion: '1',
  };
  const feeder = createFeeder({
    stats,
    splits: { currentSplit: () => split },
    artifacts: new Map([
      ['1', stable],
      ['2', canary],
    ]),
    rows,
    seed,
  });
  const rates: Rates = {
    windows,
    old: { labels: 0, none: 0 },
    new: { labels: 0, none: 0 },
    lower: { labels: 0, none: 0 },
    newFailedChecks: new Map(),
  };
  for (let i = 0; i < windows; i++) {
    clock.advance(MINUTE);
    const since = clock.now();
    feeder.window(t.minRequestsPerStep, true);
    const c = stats.window(MODEL, 'production', '2', since);
    const s = stats.window(MODEL, 'production', '1', since);
    const at = new Date(clock.now()).toISOString();
    const judge = (analyse: typeof analyseCanary, labels: boolean, thresholds = t) =>
      analyse({
        canary: labels ? c : { ...c, labelled: [] },
        stable: labels ? s : { ...s, labelled: [] },
        thresholds,
        trafficPercent: share,
        at,
      });
    if (!judge(analyseCanaryBaseline, true).passed) rates.old.labels++;
    if (!judge(analyseCanaryBaseline, false).passed) rates.old.none++;
    const withLabels = judge(analyseCanary, true);
    if (!withLabels.passed) {
      rates.new.labels++;
      for (const check of withLabels.checks)
        if (!check.passed) rates.newFailedChecks.set(check.check, (rates.newFailedChecks.get(check.check) ?? 0) + 1);
    }
    if (!judge(analyseCanary, false).passed) rates.new.none++;
    const lower = { ...t, confidence: LOWER_CONFIDENCE };
    if (!judge(analyseCanary, true, lower).passed) rates.lower.labels++;
    if (!judge(analyseCanary, false, lower).passed) rates.lower.none++;
  }
  return rates;
}

const pct = (x: number, digits = 2) =>
  x === 0 ? '0' : x < 0.0001 ? `${(x * 100).toPrecision(2)}%` : `${(x * 100).toFixed(digits)}%`;
const rate = (fails: number, n: number) => (fails === 0 ? `0 (<${pct(upper95(0, n))})` : pct(fails / n));
const col = (s: string, w: number) => s.padEnd(w);
const analysesText = (x: number) => (Number.isFinite(x) ? (x > 9_999 ? '>9999' : x.toFixed(1)) : 'never');

async function train(dir: string, name: string, rows: CreditRow[]): Promise<ModelArtifact> {
  await writeDataset(dir, name, rows);
  const outcome = await runTrainingPipeline(
    { datasetsDir: dir, dataset: name, params: {}, searchTrials: 2, gates: GATES, contract: null, nowMs: Date.now() },
    () => undefined,
  );
  return outcome.artifact;
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'mlops-bench-canary-'));
  try {
    const started = Date.now();
    const champion = await train(
      dir,
      'credit-train',
      generateCreditRows({ seed: 1, rows: 6000, startDate: '2026-01-01', days: 180 }),
    );
    const kusd = await train(
      dir,
      'kusd',
      generateCreditRows({ seed: 2, rows: 4000, startDate: '2026-07-01', days: 30, drift: DRIFT, incomeUnit: 'kusd' }),
    );
    const shifted = await train(
      dir,
      'shifted',
      generateCreditRows({ seed: 2, rows: 4000, startDate: '2026-07-01', days: 30, drift: DRIFT }),
    );
    // Fresh applicants from the champion's own process: the canary sees what the stable version sees.
    const pool = generateCreditRows({ seed: 3, rows: 20_000, startDate: '2026-06-01', days: 30 });
    const draw = createRandom(4);
    const rows = () => pool[draw.int(0, pool.length - 1)]!;
    const bad: Scenario[] = [
      { name: 'income in thousands (bad-canary demo)', artifact: kusd },
      { name: 'scores pushed up (bias +1.5)', artifact: { ...champion, bias: champion.bias + 1.5 } },
      { name: 'trained on shifted data', artifact: shifted },
    ];

    console.log(
      `canary analysis, LAB_CANARY_ANALYSIS (${T.minRequestsPerStep} canary requests a window, accuracy bound ${T.minAccuracyDelta}, PSI bound ${T.maxScoreShiftPsi})`,
    );
    console.log(
      `old: raw deltas, one failure rolls back; new: confidence 0.99 (and ${LOWER_CONFIDENCE} beside it), ${K} failures in a row roll a held canary back`,
    );
    console.log(
      '\nIdentical canary (v2 = v1): P(an analysis fails), and P(a canary held an hour, 60 analyses, is rolled back)',
    );
    console.log(
      `${col('share', 6)}${col('labels', 7)}${col('windows', 8)}${col('fail old', 10)}${col('fail new', 15)}${col(`@${LOWER_CONFIDENCE}`, 15)}${col('rollback/h old', 16)}${col('new', 11)}${col(`@${LOWER_CONFIDENCE}`, 11)}new failures by check`,
    );
    let seed = 10;
    const hourly = (fails: number, n: number) =>
      `${fails === 0 ? '<' : ''}${pct(rollbackWithin(fails === 0 ? upper95(0, n) : fails / n, K, 60), 3)}`;
    for (const share of SHARES) {
      const r = perAnalysis(champion, champion, rows, share, IDENTICAL_WINDOWS, seed++);
      for (const labels of [true, false]) {
        const pick = (f: Fails) => (labels ? f.labels : f.none);
        const o = pick(r.old) / r.windows;
        // A rate seen 0 times is bounded by its 95% upper end, and so is the hourly figure.
        const checks = labels ? [...r.newFailedChecks].map(([c, k]) => `${c} ${k}`).join(', ') || '-' : '';
        console.log(
          `${col(`${share}%`, 6)}${col(labels ? 'yes' : 'no', 7)}${col(String(r.windows), 8)}${col(pct(o), 10)}${col(rate(pick(r.new), r.windows), 15)}${col(rate(pick(r.lower), r.windows), 15)}` +
            `${col(pct(rollbackWithin(o, 1, 60)), 16)}${col(hourly(pick(r.new), r.windows), 11)}${col(hourly(pick(r.lower), r.windows), 11)}${checks}`,
        );
      }
    }

    console.log(
      '\nBad canaries: P(an analysis fails), and expected analyses until rolled back (a step, then the held watch)',
    );
    console.log(
      `${col('candidate', 40)}${col('share', 6)}${col('labels', 7)}${col('fail old', 10)}${col('fail new', 10)}${col(`@${LOWER_CONFIDENCE}`, 10)}${col('analyses old', 14)}${col('new', 8)}@${LOWER_CONFIDENCE}`,
    );
    const badLine = (name: string, share: number, r: Rates) => {
      for (const labels of [true, false]) {
        const pick = (f: Fails) => (labels ? f.labels : f.none) / r.windows;
        console.log(
          `${col(name, 40)}${col(`${share}%`, 6)}${col(labels ? 'yes' : 'no', 7)}${col(pct(pick(r.old), 1), 10)}${col(pct(pick(r.new), 1), 10)}${col(pct(pick(r.lower), 1), 10)}` +
            `${col(analysesText(analysesToRollback(pick(r.old), 1)), 14)}${col(analysesText(analysesToRollback(pick(r.new), K)), 8)}${analysesText(analysesToRollback(pick(r.lower), K))}`,
        );
      }
    };
    for (const scenario of bad) {
      for (const share of SHARES)
        badLine(scenario.name, share, perAnalysis(champion, scenario.artifact, rows, share, BAD_WINDOWS, seed++));
    }
    // Only more labels a window tell a canary 2 points past the bound from one inside it.
    const wide = { ...T, minRequestsPerStep: 1000 };
    badLine(
      'trained on shifted data, 1000 a window',
      25,
      perAnalysis(champion, shifted, rows, 25, BAD_WINDOWS, seed++, wide),
    );
    const identicalWide = perAnalysis(champion, champion, rows, 25, BAD_WINDOWS, seed++, wide);
    console.log(
      `${col('(identical, 1000 a window)', 40)}${col('25%', 6)}${col('yes', 7)}${col(pct(identicalWide.old.labels / BAD_WINDOWS, 1), 10)}${col(rate(identicalWide.new.labels, BAD_WINDOWS), 10)}`,
    );

    // The same through the real lab deployer and its watch (fsync'd state and history, real
    // timers' callbacks fired once a minute of traffic was served), with labels.
    const registry = createLocalRegistry({ dir: join(dir, 'registry'), clock: { now: Date.now } });
    let rollouts = 0;
    const deployDir = async () => join(dir, `deploy-${rollouts++}`);
    const register = async (artifact: ModelArtifact) => {
      const gates = [{ gate: 'auc', value: 1, threshold: 0, direction: 'min' as const, passed: true }];
      return (
        await registry.registerVersion({
          model: MODEL,
          dataset: 'credit-train',
          dataVersion: '0'.repeat(64),
          params: {},
          metrics: {},
          codeVersion: null,
          trainingJobId: null,
          createdBy: 'bench',
          qualityGates: gates,
          artifact,
        })
      ).version;
    };
    const rollout = async (
      canary: ModelArtifact,
      share: number,
      maxAnalyses: number,
      shift?: { after: number; rows: () => CreditRow },
    ) =>
      heldRollout({
        dir: await deployDir(),
        registry,
        artifacts: new Map([
          ['1', champion],
          ['2', canary],
        ]),
        rows,
        share,
        labels: true,
        thresholds: T,
        maxAnalyses,
        seed: seed++,
        shift,
      });
    await registry.createModel(MODEL, 'bench');
    await register(champion);
    await register(champion);
    console.log(
      `\nThrough the real deployer and watch (labels on): an identical canary stepped to its share and held ${HELD_HOURS} × 1 hour`,
    );
    for (const share of SHARES) {
      let rolledBack = 0;
      let failedHeld = 0;
      for (let h = 0; h < HELD_HOURS; h++) {
        const run = await rollout(champion, share, 61);
        if (run.rolledBack) rolledBack++;
        failedHeld += run.failedHeld;
      }
      console.log(
        `  ${share}%: ${rolledBack} of ${HELD_HOURS} held hours rolled back; ${failedHeld} watch analyses failed without rolling back`,
      );
    }
    console.log(
      `Bad canaries through the real deployer and watch at 5% (${BAD_ROLLOUTS} rollouts each, at most 120 analyses): analyses until rolled back`,
    );
    for (const scenario of bad) {
      const counts: number[] = [];
      for (let i = 0; i < BAD_ROLLOUTS; i++) {
        const run = await rollout(scenario.artifact, 5, 120);
        counts.push(run.rolledBack ? run.analyses : Number.POSITIVE_INFINITY);
      }
      counts.sort((a, b) => a - b);
      const kept = counts.filter(Number.isFinite);
      const mean = kept.length ? kept.reduce((a, b) => a + b, 0) / kept.length : Number.NaN;
      const median = counts[counts.length >> 1]!;
      console.log(
        `  ${col(scenario.name, 40)} median ${Number.isFinite(median) ? median : `> 120`}, mean ${mean.toFixed(1)} of those rolled back, ${counts.length - kept.length} not within 120`,
      );
    }
    // The contract's fragile version: fills a missing income with 0. Identical on complete
    // rows; once upstream stops sending income, it calls nearly everyone a defaulter.
    const income = champion.numericFeatures.indexOf('income');
    const fragile = { ...champion, imputation: champion.imputation.map((v, i) => (i === income ? 0 : v)) };
    const withoutIncome = () => ({ ...rows(), income: null });
    const after: number[] = [];
    for (let i = 0; i < BAD_ROLLOUTS; i++) {
      const run = await rollout(fragile, 5, 30, { after: 5, rows: withoutIncome });
      after.push(run.rolledBack && run.analyses > 5 ? run.analyses - 5 : Number.NaN);
    }
    console.log(
      `  held 5 analyses, then upstream stops sending income (fragile version): rolled back after ${after.join(', ')} analyses of the shifted traffic (old rules: the first failed one)`,
    );
    console.log(`\n(${((Date.now() - started) / 1000).toFixed(0)} s)`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
