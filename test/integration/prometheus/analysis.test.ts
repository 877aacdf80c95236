// Canary analysis against the real Prometheus 2.42 scraping the lab's model server every
// second while real traffic flows: a good canary passes, a broken one fails, a version
// nothing served is inconclusive ("no data"), and bad settings, bad PromQL, refused
// credentials and an unreachable server each say what to fix.
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { Registry } from 'prom-client';
import { systemClock } from '../../../src/clock.js';
import { UpstreamError, UserError } from '../../../src/errors.js';
import { silentLogger } from '../../../src/logger.js';
import { createModelServer, type ModelServer } from '../../../src/backends/local/model-server.js';
import { createServingStats } from '../../../src/backends/local/serving-stats.js';
import { createTrafficRouter } from '../../../src/backends/local/traffic-router.js';
import { createTrafficSimulator, type TrafficSimulator } from '../../../src/backends/local/traffic-simulator.js';
import { createPrometheusAnalysis, createPrometheusClient } from '../../../src/backends/prometheus/index.js';
import type { AnalysisTarget } from '../../../src/backends/canary-analyzer.js';
import type { Environment, TrafficSplit } from '../../../tools/ports.js';
import { brokenArtifact, cleanupTraining, createLab, MODEL, type Lab } from '../lab-serving/lab-fixture.js';
import { freePort, startPrometheus, type PrometheusServer } from '../../support/prometheus-server.js';

let lab: Lab;
let server: ModelServer;
let prometheus: PrometheusServer;
let sims: TrafficSimulator[] = [];
let stable: string;
let good: string;
let broken: string;
let example: { metrics: Record<string, unknown>[] } & Record<string, unknown>;

/** The example templates, pointed at this Prometheus and measured twice, 1 s apart, at once (the traffic is already scraped). */
const settings = (overrides: Record<string, unknown> = {}) => ({
  ...example,
  url: prometheus.url,
  auth: prometheus.auth,
  metrics: example.metrics.map((m) => ({ ...m, interval: '1s', count: 2, initialDelay: '0s' })),
  ...overrides,
});
const target = (environment: Environment, canaryVersion: string, model = MODEL): AnalysisTarget => ({
  model,
  environment,
  canaryVersion,
  stableVersion: stable,
  trafficPercent: 50,
});

beforeAll(async () => {
  lab = await createLab(systemClock);
  stable = await lab.register(lab.outcome.artifact);
  good = await lab.register(lab.outcome.artifact);
  broken = await lab.register(brokenArtifact(lab.outcome.artifact));
  // Production: a good canary beside the stable version; staging: a broken one.
  const splits: Record<Environment, TrafficSplit> = {
    production: {
      model: MODEL,
      environment: 'production',
      stableVersion: stable,
      canaryVersion: good,
      canaryPercent: 50,
      lastKnownGoodVersion: stable,
    },
    staging: {
      model: MODEL,
      environment: 'staging',
      stableVersion: stable,
      canaryVersion: broken,
      canaryPercent: 50,
      lastKnownGoodVersion: stable,
    },
  };
  const router = createTrafficRouter({
    splits: { currentSplit: (model, environment) => (model === MODEL ? splits[environment] : undefined) },
  });
  server = await createModelServer({
    artifacts: lab.registry,
    router,
    stats: createServingStats({ clock: systemClock }),
    logger: silentLogger,
    metricsRegistry: new Registry(),
  });
  prometheus = await startPrometheus([new URL(server.url).host]);
  example = parseYaml(
    await readFile(new URL('../../../examples/analysis-templates.yaml', import.meta.url), 'utf8'),
  ) as typeof example;
  sims = (['production', 'staging'] as const).map((environment) =>
    createTrafficSimulator({ url: server.url, model: MODEL, environment, rows: lab.servingRows, concurrency: 4 }),
  );
  for (const sim of sims) sim.start(60);
  // Until both canaries have a rate over at least two scrapes.
  const client = createPrometheusClient({ url: prometheus.url, auth: prometheus.auth });
  const until = Date.now() + 60_000;
  for (;;) {
    const answer = await client.query(
      `count(rate(mlops_lab_predict_requests_total{version=~"${good}|${broken}"}[1m]) > 0)`,
    );
    if (answer.resultType === 'vector' && answer.series[0]?.value?.[1] === 2) break;
    if (Date.now() > until) throw new Error('Prometheus saw no canary traffic within 60 s');
    await new Promise((r) => setTimeout(r, 250));
  }
  // And until the good canary and its stable version each scored 500 requests in the window:
  // two copies of one model differ in mean score only by sampling, whose spread shrinks as
  // 1/sqrt(count). With 100 each, a CI run once saw the difference pass the score-shift
  // template's 0.1. 500 takes about 15 s more at this traffic.
  for (;;) {
    const answer = await client.query(
      `count(sum by (version) (increase(mlops_lab_prediction_score_count{environment="production",version=~"${good}|${stable}"}[1m])) >= 500)`,
    );
    if (answer.resultType === 'vector' && answer.series[0]?.value?.[1] === 2) break;
    if (Date.now() > until + 30_000)
      throw new Error('Prometheus saw fewer than 500 scored requests per version within 90 s');
    await new Promise((r) => setTimeout(r, 250));
  }
}, 150_000);

afterAll(async () => {
  await Promise.all(sims.map((s) => s.stop()));
  await prometheus?.close();
  await server?.close();
  await lab?.cleanup();
  await cleanupTraining();
});

describe('Prometheus canary analysis (real Prometheus 2.42)', () => {
  it('passes a good canary on every example template: error rate, p99 latency, score shift and a range query', async () => {
    const outcome = await createPrometheusAnalysis(settings()).analyse(target('production', good));
    expect(outcome.checks.map((c) => [c.check, c.phase, c.message])).toEqual([
      ['error-rate', 'Successful', null],
      ['p99-latency', 'Successful', null],
      ['score-shift', 'Successful', null],
      ['error-rate-history', 'Successful', null],
    ]);
    expect(outcome).toMatchObject({ verdict: 'passed', passed: true, trafficPercent: 50 });
    const errorRate = outcome.checks[0]!;
    expect(errorRate.measurements).toHaveLength(2);
    expect(errorRate.measurements.every((m) => (m.result as number[])[0] === 0)).toBe(true);
    expect(errorRate.query).toContain(`version="${good}"`);
    expect(outcome.checks[2]!.query).toContain(`version="${stable}"`);
    const history = outcome.checks[3]!.measurements[0]!.result as number[][];
    expect(history[0]!.length).toBeGreaterThan(0);
  }, 30_000);

  it('fails a canary whose every request errs, and says which condition was false', async () => {
    const outcome = await createPrometheusAnalysis(settings()).analyse(target('staging', broken));
    expect(outcome).toMatchObject({ verdict: 'failed', passed: false });
    const errorRate = outcome.checks.find((c) => c.check === 'error-rate')!;
    expect(errorRate).toMatchObject({ phase: 'Failed', passed: false, canary: 1 });
    expect(errorRate.message).toMatch(/result\[0\] <= 0\.02 is false/);
    // failureLimit 0: the first failed measurement decides, no second one is taken.
    expect(errorRate.measurements).toHaveLength(1);
    // A broken version scores nothing: its score histogram has no series, which is no pass.
    expect(outcome.checks.find((c) => c.check === 'score-shift')).toMatchObject({
      phase: 'Inconclusive',
      message: 'no data: the query returned no series',
    });
  }, 30_000);

  it('finds a version nothing served inconclusive ("no data"), never passed', async () => {
    const outcome = await createPrometheusAnalysis(settings()).analyse(target('production', '999'));
    expect(outcome).toMatchObject({ verdict: 'inconclusive', passed: false });
    for (const check of outcome.checks)
      expect(check).toMatchObject({
        phase: 'Inconclusive',
        passed: false,
        message: 'no data: the query returned no series',
      });
  }, 30_000);

  it('escapes substituted values: a model name with quotes stays one label value', async () => {
    const outcome = await createPrometheusAnalysis(settings()).analyse(
      target('production', good, 'credit"} or vector(1) or {x="'),
    );
    expect(outcome.checks[0]!.query).toContain('model="credit\\"} or vector(1) or {x=\\""');
    expect(outcome.verdict).toBe('inconclusive');
  }, 30_000);

  it('fails a measurement whose condition returns no boolean', async () => {
    const outcome = await createPrometheusAnalysis(
      settings({ metrics: [{ name: 'raw', query: 'vector(3)', successCondition: 'result[0]' }] }),
    ).analyse(target('production', good));
    expect(outcome.checks[0]).toMatchObject({
      phase: 'Failed',
      message: expect.stringMatching(/instead of true or false/),
    });
  });

  it("answers bad PromQL with Prometheus's own errorType and error", async () => {
    const analysis = createPrometheusAnalysis(
      settings({
        metrics: [
          { name: 'typo', query: 'sum(rate(mlops_lab_predict_requests_total[1m]', successCondition: 'result[0] > 0.0' },
        ],
      }),
    );
    const err = await analysis.analyse(target('production', good)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as Error).message).toMatch(/prometheus rejected the query .* bad_data: .*parse error/);
  });

  it('says the credentials were refused on a 401, and that it needs credentials without any', async () => {
    const wrong = createPrometheusClient({
      url: prometheus.url,
      auth: { username: prometheus.auth.username, password: 'wrong' },
    });
    await expect(wrong.query('vector(1)')).rejects.toThrow(
      /answered 401: the configured credentials were refused; set prometheus.auth/,
    );
    await expect(createPrometheusClient({ url: prometheus.url }).query('vector(1)')).rejects.toThrow(
      /answered 401: it needs credentials/,
    );
  });

  it('says which URL it could not reach, and an analysis that cannot measure fails', async () => {
    const url = `http://127.0.0.1:${await freePort()}`;
    const err = await createPrometheusClient({ url })
      .query('vector(1)')
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UpstreamError);
    expect((err as Error).message).toMatch(
      /cannot reach http:\/\/127\.0\.0\.1:\d+\/api\/v1\/query \(ECONNREFUSED\); check prometheus.url/,
    );
    const metrics = [
      {
        name: 'error-rate',
        query: 'vector(0)',
        successCondition: 'result[0] == 0.0',
        interval: '10ms',
        count: 3,
        consecutiveErrorLimit: 1,
      },
    ];
    const outcome = await createPrometheusAnalysis({ url, metrics }).analyse(target('production', good));
    expect(outcome).toMatchObject({
      verdict: 'failed',
      checks: [{ phase: 'Error', measurements: [{ phase: 'Error' }, { phase: 'Error' }] }],
    });
  });

  it('refuses bad settings at construction, naming the field', () => {
    expect(() =>
      createPrometheusAnalysis(
        settings({ metrics: [{ name: 'x', query: 'up{job="{{job}}"}', successCondition: 'true' }] }),
      ),
    ).toThrow(/prometheus.metrics.0.query: the query may only use the placeholders/);
    expect(() =>
      createPrometheusAnalysis(settings({ metrics: [{ name: 'x', query: 'up', successCondition: 'result[0] <=' }] })),
    ).toThrow(/analysis metric "x": successCondition .* is not valid CEL/);
    expect(() => createPrometheusAnalysis(settings({ url: 'not a url' }))).toThrow(
      /prometheus.url: prometheus.url must be a URL/,
    );
    expect(() =>
      createPrometheusAnalysis(
        settings({ metrics: [{ name: 'x', query: 'up', successCondition: 'true', interval: '30 seconds' }] }),
      ),
    ).toThrow(/prometheus.metrics.0.interval: write a duration/);
  });
});
