// The Deployer contract run on the two adapters together: the KServe deployer (through
// @kubernetes/client-node, against the Kubernetes API protocol server and its simulated
// controller) stepping canaries judged by the Prometheus analysis (the real Prometheus
// 2.42 scraping the lab's model server). The model server routes each request as the
// controller's status splits traffic, as KServe's gateway would.
import { Registry } from 'prom-client';
import { afterAll } from 'vitest';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { systemClock } from '../../../src/clock.js';
import { silentLogger } from '../../../src/logger.js';
import { createModelServer } from '../../../src/backends/local/model-server.js';
import { createServingStats } from '../../../src/backends/local/serving-stats.js';
import { createTrafficRouter, type SplitSource } from '../../../src/backends/local/traffic-router.js';
import { createTrafficSimulator } from '../../../src/backends/local/traffic-simulator.js';
import type { CreditRow } from '../../../src/backends/local/credit-schema.js';
import { createKServeDeployer } from '../../../src/backends/kserve/index.js';
import { createPrometheusAnalysis } from '../../../src/backends/prometheus/index.js';
import { deployerContract } from '../../contract/deployer.contract.js';
import {
  cleanupTraining,
  createLab,
  fragileArtifact,
  MODEL,
  shiftedArtifact,
  withoutIncome,
} from '../lab-serving/lab-fixture.js';
import { kubeconfigFor, startFakeKServeServer } from '../../support/fake-kserve-server.js';
import { startPrometheus } from '../../support/prometheus-server.js';

afterAll(cleanupTraining);

const NS = 'ml-prod';
const STORAGE = 's3://models/{{model}}/v{{version}}';
const versionOf = (uri: string) => /\/v([^/]+)$/.exec(uri)![1]!;
const selector = (version: string) => `model="{{model}}",environment="{{environment}}",version="${version}"`;
const meanScore = (version: string) =>
  `sum(rate(mlops_lab_prediction_score_sum{${selector(version)}}[10s])) / sum(rate(mlops_lab_prediction_score_count{${selector(version)}}[10s]))`;
// Short windows: the contract's traffic shifts mid-test, and a held canary must be judged on the traffic after it.
// One failed measurement of three is forgiven: a few seconds of a 10% canary is a small sample.
const METRIC = { initialDelay: '2s', interval: '1s', count: 3, inconclusiveLimit: 2, failureLimit: 1 };
const ANALYSIS_METRICS = [
  {
    name: 'error-rate',
    query: `sum(rate(mlops_lab_predict_errors_total{${selector('{{version}}')}}[10s])) / sum(rate(mlops_lab_predict_requests_total{${selector('{{version}}')}}[10s]))`,
    successCondition: 'result[0] <= 0.02',
    ...METRIC,
  },
  {
    name: 'score-shift',
    query: `${meanScore('{{version}}')} - ${meanScore('{{stableVersion}}')}`,
    successCondition: 'result[0] >= -0.15 && result[0] <= 0.15',
    ...METRIC,
  },
];

deployerContract('KServe with Prometheus analysis', async () => {
  const lab = await createLab(systemClock);
  const stableVersion = await lab.register(lab.outcome.artifact);
  const goodVersion = await lab.register(lab.outcome.artifact);
  const badVersion = await lab.register(shiftedArtifact(lab.outcome.artifact));
  const unpromotableVersion = await lab.register(lab.outcome.artifact, { promotable: false });
  const fragileVersion = await lab.register(fragileArtifact(lab.outcome.artifact));

  const kserve = await startFakeKServeServer();
  kserve.create(NS, MODEL, STORAGE.replace('{{model}}', MODEL).replace('{{version}}', stableVersion));
  const splits: SplitSource = {
    currentSplit(model, environment) {
      if (model !== MODEL || environment !== 'production') return undefined;
      const routes = kserve.routes(NS, MODEL);
      const stable = routes.find((r) => !r.latestRevision) ?? routes[0]!;
      const canary = routes.length > 1 ? routes.find((r) => r.latestRevision) : undefined;
      const stableVersion = versionOf(stable.storageUri);
      return {
        model,
        environment,
        stableVersion,
        canaryVersion: canary ? versionOf(canary.storageUri) : null,
        canaryPercent: canary?.percent ?? 0,
        lastKnownGoodVersion: stableVersion,
      };
    },
  };
  const server = await createModelServer({
    artifacts: lab.registry,
    router: createTrafficRouter({ splits }),
    stats: createServingStats({ clock: systemClock }),
    logger: silentLogger,
    metricsRegistry: new Registry(),
  });
  const prometheus = await startPrometheus([new URL(server.url).host]);
  const dir = await mkdtemp(join(tmpdir(), 'kserve-contract-'));
  await writeFile(join(dir, 'kubeconfig'), kubeconfigFor(kserve.url, kserve.token));

  const deployer = createKServeDeployer(
    {
      kubeconfig: join(dir, 'kubeconfig'),
      inferenceServices: [{ model: MODEL, environment: 'production', namespace: NS, storageUri: STORAGE }],
      steps: [10, 50, 100],
      pollMs: 20,
      watchIntervalMs: 500,
    },
    {
      analyzer: createPrometheusAnalysis({ url: prometheus.url, auth: prometheus.auth, metrics: ANALYSIS_METRICS }),
      registry: lab.registry,
      logger: silentLogger,
    },
  );
  const traffic = (rows: CreditRow[]) => () => {
    const sim = createTrafficSimulator({ url: server.url, model: MODEL, rows, concurrency: 6 });
    sim.start(300);
    return async () => {
      await sim.stop();
    };
  };
  return {
    deployer,
    model: MODEL,
    environment: 'production',
    stableVersion,
    goodVersion,
    badVersion,
    unpromotableVersion,
    fragileVersion,
    partialPercent: 50,
    startTraffic: traffic(lab.servingRows),
    startShiftedTraffic: traffic(withoutIncome(lab.servingRows)),
    heldAnalysisMs: 4000,
    async cleanup() {
      await deployer.close();
      await prometheus.close();
      await server.close();
      await kserve.close();
      await rm(dir, { recursive: true, force: true });
      await lab.cleanup();
    },
  };
});
