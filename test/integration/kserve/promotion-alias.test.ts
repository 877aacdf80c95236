// A KServe promotion moves the registry's champion alias: the KServe deployer through the
// real @kubernetes/client-node against the Kubernetes API protocol server, and the MLflow
// registry against the MLflow REST protocol server (neither KServe nor MLflow runs here).
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { UpstreamError } from '../../../src/errors.js';
import { silentLogger } from '../../../src/logger.js';
import type { CanaryAnalyzer } from '../../../src/backends/canary-analyzer.js';
import { createKServeDeployer, type KServeDeployer } from '../../../src/backends/kserve/index.js';
import { createMlflowClient, createMlflowRegistry, type MlflowRegistry } from '../../../src/backends/mlflow/index.js';
import { backendsSchema } from '../../../src/backends/settings.js';
import type { ModelRegistry } from '../../../tools/ports.js';
import { versionInput } from '../../contract/model-registry.contract.js';
import { kubeconfigFor, startFakeKServeServer, type FakeKServeServer } from '../../support/fake-kserve-server.js';
import { startFakeMlflow, type FakeMlflow } from '../../support/mlflow-server.js';

const NS = 'ml-prod';
const MODEL = 'credit-risk';

const passing: CanaryAnalyzer = {
  async analyse(target) {
    return {
      at: new Date().toISOString(),
      trafficPercent: target.trafficPercent,
      passed: true,
      verdict: 'passed',
      checks: [{ check: 'error-rate', canary: 0, stable: 0, threshold: 0.01, passed: true }],
    };
  },
};

let kserve: FakeKServeServer;
let mlflow: FakeMlflow;
let registry: MlflowRegistry;
let dir: string;
let deployers: KServeDeployer[] = [];

beforeEach(async () => {
  kserve = await startFakeKServeServer();
  kserve.create(NS, MODEL, `s3://models/${MODEL}/v1`);
  mlflow = await startFakeMlflow();
  const mlflowDefaults = backendsSchema.parse({}).mlflow;
  registry = createMlflowRegistry({
    client: createMlflowClient({ trackingUri: mlflow.url, timeoutMs: 5000 }),
    qualityGates: mlflowDefaults.qualityGates,
    dataVersionTag: mlflowDefaults.dataVersionTag,
  });
  await registry.createModel(MODEL, 'PD model');
  await registry.registerVersion(versionInput(MODEL));
  await registry.registerVersion(versionInput(MODEL));
  await registry.setAlias(MODEL, 'champion', '1', 'operator', 'the model in production');
  dir = await mkdtemp(join(tmpdir(), 'kserve-alias-'));
  await writeFile(join(dir, 'kubeconfig'), kubeconfigFor(kserve.url, kserve.token));
});
afterEach(async () => {
  await Promise.all(deployers.map((d) => d.close()));
  deployers = [];
  await kserve.close();
  await mlflow.close();
  await rm(dir, { recursive: true, force: true });
});

function deployer(reg: Pick<ModelRegistry, 'getVersion' | 'setAlias'> = registry) {
  const d = createKServeDeployer(
    {
      kubeconfig: join(dir, 'kubeconfig'),
      inferenceServices: [
        { model: MODEL, environment: 'production', namespace: NS, storageUri: 's3://models/{{model}}/v{{version}}' },
      ],
      steps: [10, 50, 100],
      pollMs: 10,
      watchIntervalMs: 50,
    },
    { analyzer: passing, registry: reg, logger: silentLogger },
  );
  deployers.push(d);
  return d;
}
const promote = (d: KServeDeployer, idempotencyKey: string) =>
  d.deployCanary({
    model: MODEL,
    version: '2',
    environment: 'production',
    targetPercent: 100,
    requestedBy: 'agent',
    timeoutMs: 20_000,
    idempotencyKey,
  });
const champion = async () => (await registry.resolveAlias(MODEL, 'champion'))?.version;

describe('KServe promotion and the registry alias (Kubernetes API and MLflow REST protocol servers)', () => {
  it('moves champion to the promoted version once, and a retried promotion under the same key moves nothing twice', async () => {
    const d = deployer();
    const promoted = await promote(d, 'promote-2');
    expect(promoted).toMatchObject({ status: 'promoted', reason: 'canary 2 passed every step and was promoted' });
    expect(await champion()).toBe('2');
    expect([...mlflow.models.get(MODEL)!.aliases]).toEqual([['champion', '2']]);
    const moves = await registry.aliasHistory(MODEL);
    expect(moves.map((m) => [m.from, m.to, m.by])).toEqual([
      [null, '1', 'operator'],
      ['1', '2', 'kserve-deployer'],
    ]);

    // The same call again (a worker that died after the patch and was retried): same rollout, same alias, no new move.
    const again = await promote(deployer(), 'promote-2');
    expect(again).toMatchObject({ status: 'promoted', canaryVersion: '2' });
    expect(await champion()).toBe('2');
    expect(await registry.aliasHistory(MODEL)).toEqual(moves);
  });

  it('after a promotion, rollback keeps the promoted version (the last rolled-out revision) and champion on it', async () => {
    const d = deployer();
    await promote(d, 'promote-2');
    const split = await d.rollback({ model: MODEL, environment: 'production', reason: 'check', requestedBy: 'alice' });
    expect(split).toMatchObject({ stableVersion: '2', canaryVersion: null, lastKnownGoodVersion: '2' });
    expect(await champion()).toBe('2');
  });

  it('keeps the promotion when the registry is down, says the alias did not move, and moves it when the call is retried', async () => {
    let down = true;
    const flaky: Pick<ModelRegistry, 'getVersion' | 'setAlias'> = {
      getVersion: (model, version) => registry.getVersion(model, version),
      setAlias: (...args) =>
        down
          ? Promise.reject(new UpstreamError('MLflow', 'connection refused', { retryable: true }))
          : registry.setAlias(...args),
    };
    const d = deployer(flaky);
    const promoted = await promote(d, 'promote-2');
    expect(promoted.status).toBe('promoted');
    expect(promoted.reason).toMatch(/champion alias was not moved to 2 .*connection refused.*call deployCanary again/);
    expect(await champion()).toBe('1');
    expect((await d.rollout(MODEL, 'production'))?.reason).toMatch(/champion alias was not moved/);
    expect(await d.getSplit(MODEL, 'production')).toMatchObject({ stableVersion: '2', canaryVersion: null });

    down = false;
    const retried = await promote(d, 'promote-2');
    expect(retried.reason).toBe('canary 2 passed every step and was promoted');
    expect(await champion()).toBe('2');
    expect((await d.rollout(MODEL, 'production'))?.reason).toBe('canary 2 passed every step and was promoted');
  });

  it('moves no alias on a promotion in staging (promoteAlias.staging is null by default)', async () => {
    kserve.create(NS, 'credit-risk-staging', `s3://models/${MODEL}/v1`);
    const d = createKServeDeployer(
      {
        kubeconfig: join(dir, 'kubeconfig'),
        inferenceServices: [
          {
            model: MODEL,
            environment: 'staging',
            namespace: NS,
            name: 'credit-risk-staging',
            storageUri: 's3://models/{{model}}/v{{version}}',
          },
        ],
        steps: [10, 100],
        pollMs: 10,
      },
      { analyzer: passing, registry, logger: silentLogger },
    );
    deployers.push(d);
    const promoted = await d.deployCanary({
      model: MODEL,
      version: '2',
      environment: 'staging',
      targetPercent: 100,
      requestedBy: 'agent',
      timeoutMs: 20_000,
    });
    expect(promoted.status).toBe('promoted');
    expect(await champion()).toBe('1');
  });
});
