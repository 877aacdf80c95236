// The MLflow registry adapter against an HTTP server speaking MLflow's REST API 2.0
// (test/support/mlflow-server.ts; MLflow itself cannot be installed here): the registry
// port's contract, lineage from the run, pagination, and errors that say what to fix.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createMlflowClient } from '../../../src/backends/mlflow/client.js';
import { createMlflowRegistry, type MlflowRegistry } from '../../../src/backends/mlflow/registry.js';
import { openMlflowRegistry } from '../../../src/backends/mlflow/index.js';
import { backendsSchema } from '../../../src/backends/settings.js';
import { loadConfig } from '../../../src/app/config.js';
import { openBackendsForReading, openRegistryForReading } from '../../../src/app/backends.js';
import { describeModelRegistryContract, versionInput } from '../../contract/model-registry.contract.js';
import { startFakeMlflow, type FakeMlflow } from '../../support/mlflow-server.js';

const defaults = backendsSchema.parse({}).mlflow;

/** MLflow as the registry needs a trainer and deployer that act on MLflow's models. */
function writeConfig(dir: string): string {
  const file = join(dir, 'mlops-agent.yaml');
  writeFileSync(
    file,
    'backends:\n  deployer: kserve\n  analysis: prometheus\n  prometheus: { url: "http://prom:9090", metrics: [{ name: errors, query: "up", successCondition: "result[0] <= 1" }] }\n  kserve: { inferenceServices: [{ model: credit-risk, environment: production, namespace: ml, storageUri: "s3://m/{{version}}" }] }\n  trainer: http\n  httpTrainer: { startUrl: "http://train.internal/jobs", statusUrl: "http://train.internal/jobs/{jobId}" }\n',
  );
  return file;
}

function registryFor(
  server: FakeMlflow,
  options: { token?: string; pageSize?: number; trackingUri?: string } = {},
): MlflowRegistry {
  const client = createMlflowClient(
    { trackingUri: options.trackingUri ?? server.url, token: options.token, timeoutMs: 5000 },
    { pageSize: options.pageSize ?? 3 },
  );
  return createMlflowRegistry({ client, qualityGates: defaults.qualityGates, dataVersionTag: defaults.dataVersionTag });
}

describeModelRegistryContract('mlflow', async () => {
  const server = await startFakeMlflow();
  return { registry: registryFor(server), cleanup: () => server.close() };
});

describe('MLflow registry', () => {
  let server: FakeMlflow;
  let registry: MlflowRegistry;
  beforeEach(async () => {
    server = await startFakeMlflow({ token: 'mlflow-token' });
    registry = registryFor(server, { token: 'mlflow-token' });
  });
  afterEach(async () => server.close());

  it("reads a version's lineage from its run: params, metrics, dataset digests and the git commit", async () => {
    await registry.createModel('credit-risk', 'PD model');
    const v = await registry.registerVersion({
      ...versionInput('credit-risk', 0.86, { trainingJobId: 'ext-1' }),
      codeVersion: 'a1b2c3d',
    });
    expect(v).toMatchObject({
      version: '1',
      dataVersion: 'a'.repeat(64),
      dataset: 'credit-train',
      codeVersion: 'a1b2c3d',
      trainingJobId: 'ext-1',
      promotable: true,
    });
    expect(v.lineage).toEqual({
      runId: expect.any(String),
      source: `runs:/${v.lineage.runId}/model`,
      datasets: [
        { name: 'credit-train', digest: 'a'.repeat(64), source: '{"dataset":"credit-train"}', context: 'training' },
      ],
    });
    expect(v.qualityGates).toEqual([
      { gate: 'auc', value: 0.86, threshold: 0.82, direction: 'min', passed: true },
      { gate: 'calibration_error', value: 0.02, threshold: 0.05, direction: 'max', passed: true },
    ]);
    expect(await registry.versionOfRun('credit-risk', v.lineage.runId!)).toBe('1');
    expect(await registry.versionOfRun('credit-risk', 'f'.repeat(32))).toBeUndefined();
  });

  it('reads quality gates from the run under the configured metric names, failing a gate whose metric was never logged', async () => {
    const client = createMlflowClient({ trackingUri: server.url, token: 'mlflow-token', timeoutMs: 5000 });
    const custom = createMlflowRegistry({
      client,
      dataVersionTag: 'data_version',
      qualityGates: [
        { gate: 'auc', metric: 'val_roc_auc', threshold: 0.8, direction: 'min' },
        { gate: 'auc_logged', metric: 'auc', threshold: 0.8, direction: 'min' },
      ],
    });
    await custom.createModel('credit-risk', 'd');
    const v = await custom.registerVersion(versionInput('credit-risk', 0.9));
    expect(v.qualityGates[0]).toMatchObject({ gate: 'auc', passed: false });
    expect(Number.isNaN(v.qualityGates[0]!.value)).toBe(true);
    expect(v.qualityGates[1]).toMatchObject({ gate: 'auc_logged', value: 0.9, passed: true });
    await expect(custom.setAlias('credit-risk', 'champion', '1', 'alice', 'x')).rejects.toThrow(
      /not promotable: it failed quality gates auc \(not logged\) < 0.8/,
    );
  });

  it('follows next_page_token through every page of a search', async () => {
    for (const name of ['a', 'b', 'c', 'd', 'e', 'f', 'g']) await registry.createModel(name, name);
    for (let i = 0; i < 7; i++) await registry.registerVersion(versionInput('a'));
    server.requests.length = 0;
    const models = await registry.listModels();
    expect(models.map((m) => m.name)).toEqual(['a', 'b', 'c', 'd', 'e', 'f', 'g']);
    expect(models[0]).toMatchObject({ latestVersion: '7', versionCount: 7 });
    expect(server.requests.filter((r) => r.endsWith('registered-models/search'))).toHaveLength(3);
    expect((await registry.listVersions('a')).map((v) => v.version)).toEqual(['1', '2', '3', '4', '5', '6', '7']);
  });

  it("sets and deletes aliases through MLflow's alias endpoints and keeps the history in model tags every process reads", async () => {
    await registry.createModel('credit-risk', 'd');
    await registry.registerVersion(versionInput('credit-risk'));
    await registry.setAlias('credit-risk', 'challenger', '1', 'agent', 'shadow');
    expect([...server.models.get('credit-risk')!.aliases]).toEqual([['challenger', '1']]);
    await registry.setAlias('credit-risk', 'challenger', null, 'agent', 'done');
    expect(server.models.get('credit-risk')!.aliases.size).toBe(0);
    const another = registryFor(server, { token: 'mlflow-token' });
    expect((await another.aliasHistory('credit-risk')).map((m) => [m.from, m.to])).toEqual([
      [null, '1'],
      ['1', null],
    ]);
  });

  it("is configured by MLflow's own variables, MLFLOW_TRACKING_URI and MLFLOW_TRACKING_TOKEN", async () => {
    await registry.createModel('credit-risk', 'd');
    const cwd = mkdtempSync(join(tmpdir(), 'mlflow-env-'));
    try {
      const config = loadConfig({
        cwd,
        env: { MLFLOW_TRACKING_URI: server.url, MLFLOW_TRACKING_TOKEN: 'mlflow-token', MLOPS_AGENT_CONFIG: '' },
        file: writeConfig(cwd),
      });
      expect((await openMlflowRegistry(config.backends.mlflow).listModels()).map((m) => m.name)).toEqual([
        'credit-risk',
      ]);
    } finally {
      rmSync(cwd, { recursive: true, force: true });
    }
  });

  it('is what runs show, policy explain and evidence bundles read models from when it is the registry', async () => {
    await registry.createModel('credit-risk', 'PD model');
    const v = await registry.registerVersion(versionInput('credit-risk', 0.86));
    const cwd = mkdtempSync(join(tmpdir(), 'mlflow-read-'));
    try {
      const config = loadConfig({
        cwd,
        env: { MLFLOW_TRACKING_URI: server.url, MLFLOW_TRACKING_TOKEN: 'mlflow-token', MLOPS_AGENT_CONFIG: '' },
        file: writeConfig(cwd),
      });
      const read = await openBackendsForReading(config, join(cwd, 'home'));
      expect(read.where).toContain(`MLflow at ${server.url}`);
      expect(await read.backends.registry.getVersion('credit-risk', v.version)).toMatchObject({
        version: v.version,
        promotable: v.promotable,
      });
      expect(await openRegistryForReading(config).getVersion('credit-risk', v.version)).toMatchObject({
        version: v.version,
      });
    } finally {
      rmSync(cwd, { recursive: true, force: true });
    }
  });

  it('says what to fix: a wrong token, an unreachable server, an unknown model', async () => {
    await expect(registryFor(server, { token: 'wrong' }).listModels()).rejects.toThrow(
      /MLflow at http:\/\/127\.0\.0\.1:\d+ refused the credentials \(HTTP 401\): You are not authenticated.*; set MLFLOW_TRACKING_TOKEN, or MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD/,
    );
    const gone = await startFakeMlflow();
    await gone.close();
    await expect(registryFor(gone).listModels()).rejects.toThrow(
      `MLflow: cannot reach ${gone.url}/api/2.0/mlflow/registered-models/search?max_results=3 (ECONNREFUSED): check the URL and that the server is running`,
    );
    await expect(registry.listVersions('no-such-model')).rejects.toMatchObject({
      code: 'not_found',
      message: 'MLflow: Registered Model with name=no-such-model not found',
    });
    await expect(registry.aliasHistory('no-such-model')).rejects.toMatchObject({ code: 'not_found' });
  });
});
