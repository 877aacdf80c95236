// The lab's deployer judged by Prometheus (`analysis: prometheus`, `deployer: local`): the
// real Prometheus 2.42 scrapes the lab's model server every second under live traffic, and
// the templates of examples/lab-prometheus.yaml judge each step and the held canary. A good
// canary steps and is promoted, a failing one is rolled back, one held at its share that
// goes bad is rolled back by the watch, and a query with no series pauses the canary
// where it stands: never promoted, never rolled back on it. A rollback during a long
// measurement stops it at once.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { systemClock } from '../../../src/clock.js';
import type { CreditRow } from '../../../src/backends/local/credit-schema.js';
import { createTrafficSimulator } from '../../../src/backends/local/traffic-simulator.js';
import { createPrometheusAnalysis } from '../../../src/backends/prometheus/index.js';
import type { CanaryRequest, TrafficSplit } from '../../../tools/ports.js';
import {
  brokenArtifact,
  cleanupTraining,
  createLab,
  fragileArtifact,
  MODEL,
  withoutIncome,
  type Lab,
} from '../lab-serving/lab-fixture.js';
import { createStack, type Stack } from '../lab-serving/serving-stack.js';
import { startPrometheus, type PrometheusServer } from '../../support/prometheus-server.js';
import { eventually } from '../../support/eventually.js';

type Template = { name: string; query: string } & Record<string, unknown>;

let lab: Lab;
let judged: Stack;
let noData: Stack;
let slow: Stack;
let prometheus: PrometheusServer;
let stable: string;
let good: string;
let broken: string;
let fragile: string;
let stopJudgedTraffic: () => Promise<void> = async () => undefined;
let stopNoDataTraffic: () => Promise<void> = async () => undefined;
let stopSlowTraffic: () => Promise<void> = async () => undefined;

/**
 * The example's templates as they are, measured on this test's clock: windows of 15 s
 * instead of 1 m (the traffic shifts mid-test, and a held canary must be judged on what
 * came after), a 2 s initial delay (a 1 s scrape) and three measurements 1 s apart.
 */
async function exampleTemplates(): Promise<Template[]> {
  const example = parseYaml(
    await readFile(new URL('../../../examples/lab-prometheus.yaml', import.meta.url), 'utf8'),
  ) as { backends: { prometheus: { metrics: Template[] } } };
  return example.backends.prometheus.metrics.map((m) => ({
    ...m,
    query: m.query.replaceAll('[1m]', '[15s]'),
    initialDelay: '2s',
    interval: '1s',
    count: 3,
  }));
}

const request = (version: string, targetPercent: number): CanaryRequest => ({
  model: MODEL,
  version,
  environment: 'production',
  targetPercent,
  requestedBy: 'test',
  // Steps wait for 250 canary requests each (below): generous for a loaded CI machine.
  timeoutMs: 120_000,
});

function traffic(stack: Stack, rows: CreditRow[]): () => Promise<void> {
  const sim = createTrafficSimulator({ url: stack.server.url, model: MODEL, rows, concurrency: 4 });
  sim.start(150);
  return async () => {
    await sim.stop();
  };
}

async function splitWhen(stack: Stack, done: (s: TrafficSplit) => boolean, ms: number) {
  const until = Date.now() + ms;
  for (;;) {
    const split = await stack.deployer.getSplit(MODEL, 'production');
    if ((split && done(split)) || Date.now() > until) return split;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * The deployer's history once no line is half-written: the split moves in memory before its
 * record is appended, and a watch may be appending while the test reads.
 */
const wholeHistory = (stack: Stack) =>
  eventually('a history with no line half-written', () => stack.deployer.history().catch(() => undefined));

/** Instant queries Prometheus has answered so far, from its own /metrics. */
async function queriesAnswered(): Promise<number> {
  const { username, password } = prometheus.auth;
  const text = await fetch(`${prometheus.url}/metrics`, {
    headers: { authorization: `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}` },
  }).then((r) => r.text());
  return text
    .split('\n')
    .filter((line) => line.startsWith('prometheus_http_requests_total{') && line.includes('handler="/api/v1/query"'))
    .reduce((sum, line) => sum + Number(line.split(' ').at(-1)), 0);
}

beforeAll(async () => {
  lab = await createLab(systemClock);
  stable = await lab.register(lab.outcome.artifact);
  good = await lab.register(lab.outcome.artifact);
  broken = await lab.register(brokenArtifact(lab.outcome.artifact));
  fragile = await lab.register(fragileArtifact(lab.outcome.artifact));
  const templates = await exampleTemplates();
  // Three labs' deployers on one registry, each with its own model server and split: one judged
  // by the example templates, one by a template whose label matcher matches nothing, one by
  // a template that measures for 15 minutes. Prometheus starts once the servers it scrapes
  // exist, so each analysis is made at its first use.
  const lazyAnalysis = (metrics: Template[]) => {
    let analysis: ReturnType<typeof createPrometheusAnalysis> | undefined;
    return {
      analyse: (...args: Parameters<ReturnType<typeof createPrometheusAnalysis>['analyse']>) =>
        (analysis ??= createPrometheusAnalysis({ url: prometheus.url, auth: prometheus.auth, metrics })).analyse(
          ...args,
        ),
    };
  };
  const common = { steps: [10, 50, 100], analysis: { minRequestsPerStep: 50 }, watchIntervalMs: 500 };
  judged = await createStack(lab, systemClock, {
    ...common,
    // 250 canary requests (about 17 s at 10%) before a step is measured: the mean score of a
    // good canary differs from its stable version's only by sampling, which shrinks as
    // 1/sqrt(requests); with 100 the example's ±0.1 score-shift bound was too near (a 50/50
    // analysis test at 100 requests a side once failed on it in CI).
    analysis: { minRequestsPerStep: 250 },
    deployDir: join(lab.dir, 'deployments-judged'),
    analyzer: lazyAnalysis(templates),
  });
  const errorRate = templates.find((t) => t.name === 'error-rate')!;
  noData = await createStack(lab, systemClock, {
    ...common,
    deployDir: join(lab.dir, 'deployments-no-data'),
    analyzer: lazyAnalysis([
      { ...errorRate, query: errorRate.query.replaceAll('environment="{{environment}}"', 'environment="prod"') },
    ]),
  });
  slow = await createStack(lab, systemClock, {
    ...common,
    deployDir: join(lab.dir, 'deployments-slow'),
    analyzer: lazyAnalysis([{ ...errorRate, initialDelay: '0s', interval: '1s', count: 900 }]),
  });
  prometheus = await startPrometheus([judged, noData, slow].map((s) => new URL(s.server.url).host));
  for (const stack of [judged, noData, slow]) await stack.deployer.serve(MODEL, 'production', stable);
  stopJudgedTraffic = traffic(judged, lab.servingRows);
  stopNoDataTraffic = traffic(noData, lab.servingRows);
  stopSlowTraffic = traffic(slow, lab.servingRows);
}, 120_000);

afterAll(async () => {
  await stopJudgedTraffic();
  await stopNoDataTraffic();
  await stopSlowTraffic();
  await judged?.close();
  await noData?.close();
  await slow?.close();
  await prometheus?.close();
  await lab?.cleanup();
  await cleanupTraining();
});

describe("the lab's deployer on Prometheus analysis (real Prometheus 2.42)", () => {
  it('steps a good canary on the example templates, keeps judging it while held, then promotes it', async () => {
    const paused = await judged.deployer.deployCanary(request(good, 50));
    expect(paused).toMatchObject({ status: 'paused', canaryPercent: 50 });
    expect(paused.reason).toMatch(/reached the authorised 50%/);
    // One analysis per step, each Prometheus's: the example's metric names, every one measured and passed.
    expect(paused.analyses.map((a) => [a.trafficPercent, a.passed])).toEqual([
      [10, true],
      [50, true],
    ]);
    for (const analysis of paused.analyses) {
      expect(analysis).toMatchObject({ verdict: 'passed' });
      expect(analysis.checks.map((c) => [c.check, c.passed])).toEqual([
        ['error-rate', true],
        ['p99-latency', true],
        ['score-shift', true],
      ]);
    }
    // Held at 50%, the watch asks Prometheus again.
    const watched = await eventually('an analysis of the held canary', async () => {
      const records = (await wholeHistory(judged)).filter((h) => h.by === 'canary-watch');
      return records.length > 0 ? records : undefined;
    });
    expect(watched[0]).toMatchObject({ action: 'analysis', reason: 'analysis passed while held at 50%' });
    expect(watched[0]!.analysis).toMatchObject({ verdict: 'passed', trafficPercent: 50 });

    const promoted = await judged.deployer.deployCanary(request(good, 100));
    expect(promoted.status).toBe('promoted');
    expect(await judged.deployer.getSplit(MODEL, 'production')).toMatchObject({
      stableVersion: good,
      canaryVersion: null,
      lastKnownGoodVersion: good,
    });
  }, 150_000);

  it('rolls back a canary whose every request fails, on the error-rate template', async () => {
    // Whichever version serves now (the first test promotes one): any order of tests.
    const { stableVersion } = (await judged.deployer.getSplit(MODEL, 'production'))!;
    const rollout = await judged.deployer.deployCanary(request(broken, 100));
    expect(rollout).toMatchObject({ status: 'rolled_back', canaryPercent: 0 });
    expect(rollout.reason).toMatch(/^canary analysis failed at 10%: error-rate/);
    const last = rollout.analyses.at(-1)!;
    expect(last).toMatchObject({ passed: false, verdict: 'failed', trafficPercent: 10 });
    expect(last.checks.find((c) => c.check === 'error-rate')).toMatchObject({ passed: false, canary: 1 });
    expect(await judged.deployer.getSplit(MODEL, 'production')).toMatchObject({
      stableVersion,
      canaryVersion: null,
      canaryPercent: 0,
    });
  }, 120_000);

  it('rolls back, without anyone asking, a held canary whose scores go wrong once the traffic changes', async () => {
    const { stableVersion } = (await judged.deployer.getSplit(MODEL, 'production'))!;
    // On complete rows the fragile version scores as the stable one does: it passes its steps.
    expect((await judged.deployer.deployCanary(request(fragile, 50))).status).toBe('paused');
    await stopJudgedTraffic();
    stopJudgedTraffic = traffic(judged, withoutIncome(lab.servingRows));
    try {
      const split = await splitWhen(judged, (s) => s.canaryVersion === null, 45_000);
      expect(split).toMatchObject({ stableVersion, canaryVersion: null, canaryPercent: 0 });
      const rollback = await eventually('the rollback on record', async () =>
        (await wholeHistory(judged)).filter((h) => h.action === 'rollback' && h.reason.includes('while held')).at(-1),
      );
      expect(rollback).toMatchObject({ by: 'canary-analysis' });
      expect(rollback.reason).toMatch(/^canary analysis failed at 50% while held: .*score-shift.* \(2 of 2 in a row\)/);
    } finally {
      await stopJudgedTraffic();
      stopJudgedTraffic = traffic(judged, lab.servingRows);
    }
  }, 150_000);

  it('pauses a step whose query returns no series: inconclusive, neither promoted nor rolled back', async () => {
    const rollout = await noData.deployer.deployCanary(request(good, 100));
    expect(rollout).toMatchObject({ status: 'paused', canaryPercent: 10 });
    expect(rollout.reason).toBe(
      'canary analysis inconclusive at 10% (no data for error-rate); call deployCanary again to continue',
    );
    const last = rollout.analyses.at(-1)!;
    expect(last).toMatchObject({ passed: false, verdict: 'inconclusive' });
    expect(last.checks[0]).toMatchObject({
      passed: false,
      phase: 'Inconclusive',
      message: 'no data: the query returned no series',
    });
    // Held without data, the watch counts no failure and passes nothing: the canary stays where it was.
    await new Promise((r) => setTimeout(r, 5_000));
    expect(noData.deployer.watching()).toEqual([{ model: MODEL, environment: 'production' }]);
    expect(await noData.deployer.getSplit(MODEL, 'production')).toMatchObject({
      stableVersion: stable,
      canaryVersion: good,
      canaryPercent: 10,
    });
    const history = await wholeHistory(noData);
    const moves = history.map((h) => h.action);
    expect(moves).not.toContain('rollback');
    expect(moves).not.toContain('promote');
    expect(history.filter((h) => h.by === 'canary-watch')).toEqual([]);
  }, 60_000);

  it('stops a Prometheus measurement under way when the canary is rolled back', async () => {
    // Nothing else asks Prometheus from here on: the held canary without data is no longer watched.
    await noData.close();
    await slow.deployer.startCanary(request(good, 100));
    // Past the 50 requests the step waits for: the analysis (900 measurements, 1 s apart) is measuring.
    await expect
      .poll(() => slow.stats.window(MODEL, 'production', good, 0).requests, { timeout: 20_000 })
      .toBeGreaterThanOrEqual(100);
    const split = await slow.deployer.rollback({
      model: MODEL,
      environment: 'production',
      reason: 'operator asked',
      requestedBy: 'test',
    });
    expect(split).toMatchObject({ stableVersion: stable, canaryVersion: null, canaryPercent: 0 });
    expect(await slow.deployer.waitForRollout(MODEL, 'production', { timeoutMs: 10_000 })).toMatchObject({
      status: 'rolled_back',
      reason: 'operator asked',
    });
    // The measurement stopped with the loop: Prometheus is asked nothing more (it was asked every second).
    await new Promise((r) => setTimeout(r, 1_000));
    const answered = await queriesAnswered();
    await new Promise((r) => setTimeout(r, 3_000));
    expect(await queriesAnswered()).toBe(answered);
    expect((await wholeHistory(slow)).map((h) => h.action)).toEqual(['serve', 'canary_step', 'rollback']);
  }, 30_000);
});
