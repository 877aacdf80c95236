// Under `analysis: prometheus` with `deployer: local`, both places that open the lab's
// deployer give it the Prometheus templates: openBackends (serve, workers, chat on their
// own lab) and openLab (`mlops-agent lab up`, whose deployer serve and workers act on while
// the lab is up). The real Prometheus 2.42 answers a template that matches no series: the
// canary pauses as inconclusive, where the lab's own analysis (asked for no traffic here)
// would promote it.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/app/config.js';
import { openLab } from '../../../src/app/lab.js';
import { openBackends } from '../../../src/backends/from-config.js';
import type { LocalLab } from '../../../src/backends/local/index.js';
import { systemClock } from '../../../src/clock.js';
import { silentLogger } from '../../../src/logger.js';
import { cleanupTraining, createLab, MODEL, type Lab } from '../lab-serving/lab-fixture.js';
import { startPrometheus, type PrometheusServer } from '../../support/prometheus-server.js';

let trained: Lab;
let prometheus: PrometheusServer;
let dir: string;

beforeAll(async () => {
  trained = await createLab(systemClock);
  prometheus = await startPrometheus([]);
  dir = await mkdtemp(join(tmpdir(), 'lab-up-analysis-'));
}, 60_000);

afterAll(async () => {
  await prometheus?.close();
  await trained?.cleanup();
  await cleanupTraining();
  await rm(dir, { recursive: true, force: true });
});

async function writeConfig(name: string): Promise<ReturnType<typeof loadConfig>> {
  const { username, password } = prometheus.auth;
  const file = join(dir, `${name}.yaml`);
  await writeFile(
    file,
    [
      `home: ${JSON.stringify(join(dir, name))}`,
      'backends:',
      '  analysis: prometheus',
      '  prometheus:',
      `    url: ${prometheus.url}`,
      `    auth: { username: ${username}, password: ${password} }`,
      '    metrics:',
      '      - name: error-rate',
      '        query: sum(rate(mlops_lab_predict_errors_total{model="{{model}}",version="{{version}}"}[1m]))',
      '        successCondition: result[0] <= 0.02',
      '',
    ].join('\n'),
  );
  return loadConfig({ file, cwd: dir, env: {} });
}

/** Serves one version and canaries another to 100%: what the deployer's analysis makes of it. */
async function canaryOn(lab: Pick<LocalLab, 'registry' | 'deployer'>) {
  await lab.registry.createModel(MODEL, 'probability of default');
  const register = async () =>
    (
      await lab.registry.registerVersion({
        model: MODEL,
        dataset: 'credit-train',
        dataVersion: trained.outcome.dataVersion,
        params: {},
        metrics: trained.outcome.metrics,
        codeVersion: null,
        trainingJobId: null,
        createdBy: 'test',
        qualityGates: trained.outcome.qualityGates,
        artifact: trained.outcome.artifact,
      })
    ).version;
  const stable = await register();
  const candidate = await register();
  await lab.deployer.serve(MODEL, 'production', stable);
  return lab.deployer.deployCanary({
    model: MODEL,
    version: candidate,
    environment: 'production',
    targetPercent: 100,
    requestedBy: 'test',
    timeoutMs: 20_000,
  });
}

const INCONCLUSIVE = {
  status: 'paused',
  canaryPercent: 1,
  reason: 'canary analysis inconclusive at 1% (no data for error-rate); call deployCanary again to continue',
};

describe('the Prometheus analysis reaches the lab deployer', () => {
  it('of `lab up` (openLab)', async () => {
    const lab = await openLab(await writeConfig('lab-up'), silentLogger, { minRequestsPerStep: 0 });
    try {
      const rollout = await canaryOn(lab);
      expect(rollout).toMatchObject(INCONCLUSIVE);
      expect(rollout.analyses.at(-1)).toMatchObject({ verdict: 'inconclusive', passed: false });
    } finally {
      await lab.close();
    }
  }, 30_000);

  it('of openBackends', async () => {
    const opened = await openBackends(await writeConfig('open-backends'), {
      logger: silentLogger,
      lab: { analysis: { minRequestsPerStep: 0 } },
    });
    try {
      expect(await canaryOn({ registry: opened.lab.registry, deployer: opened.lab.deployer })).toMatchObject(
        INCONCLUSIVE,
      );
    } finally {
      await opened.close();
    }
  }, 30_000);
});
