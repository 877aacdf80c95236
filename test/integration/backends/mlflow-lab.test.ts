// MLflow as the registry beside the lab's trainer and deployer, opened from config as a
// team would (MLFLOW_TRACKING_URI set, everything else left to the lab), against the MLflow
// REST protocol server (test/support/mlflow-server.ts; MLflow itself cannot be installed here).
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openBackends, type OpenedBackends } from '../../../src/backends/from-config.js';
import { generateCreditRows, writeDataset } from '../../../src/backends/local/index.js';
import { openMlflowRegistry } from '../../../src/backends/mlflow/index.js';
import { backendsSchema } from '../../../src/backends/settings.js';
import { silentLogger } from '../../../src/logger.js';
import { PROCESS_TOKEN } from '../../../src/process-identity.js';
import { versionInput } from '../../contract/model-registry.contract.js';
import { daysAgo } from '../../support/dates.js';
import { startFakeMlflow, type FakeMlflow } from '../../support/mlflow-server.js';

const qualityGates = { minAuc: 0.7, maxCalibrationError: 0.1, maxP99LatencyMs: 50, maxParityGap: 0.2 };

describe("MLflow registry beside the lab's trainer and deployer", () => {
  let home: string;
  let mlflow: FakeMlflow;
  let opened: OpenedBackends;
  let trainedVersion: string;

  beforeAll(async () => {
    home = await mkdtemp(join(tmpdir(), 'mlflow-lab-'));
    mlflow = await startFakeMlflow();
    // As MLFLOW_TRACKING_URI does: registry auto becomes mlflow; trainer and deployer stay the lab's.
    const backends = backendsSchema.parse({ mlflow: { trackingUri: mlflow.url } });
    opened = await openBackends({ home, qualityGates, backends }, { logger: silentLogger });
    await writeDataset(
      opened.lab.dirs.datasets,
      'credit-train',
      generateCreditRows({ seed: 21, rows: 3000, startDate: daysAgo(150), days: 90 }),
    );
    const job = await opened.backends.trainer.start({
      model: 'credit-risk',
      dataset: 'credit-train',
      params: {},
      requestedBy: 'alice',
      idempotencyKey: 'run_7:call_1',
    });
    const done = await opened.backends.trainer.waitFor(job.jobId, { timeoutMs: 120_000 });
    expect(done).toMatchObject({ status: 'succeeded' });
    trainedVersion = done.version!;
  }, 180_000);
  afterAll(async () => {
    await opened?.close();
    await mlflow?.close();
    await rm(home, { recursive: true, force: true });
  });

  it('opens with the registry in MLflow and the lab training and serving', () => {
    expect(opened.chosen).toEqual({ registry: 'mlflow', analysis: 'local', deployer: 'local', trainer: 'local' });
    expect(opened.backends.registry).not.toBe(opened.lab.registry);
  });

  it("registers what the lab trains in MLflow: the model, a run with the version's params and metrics, a version whose source is the lab model file", async () => {
    expect(trainedVersion).toBe('1');
    expect(mlflow.models.has('credit-risk')).toBe(true);
    const [v] = mlflow.versions.get('credit-risk')!;
    // In the run's artifact directory, which MLflow requires of a local source: the lab's experiment keeps them in the lab.
    const run = mlflow.runs.get(v!.run_id)!;
    expect(v!.source).toBe(`${run.info.artifact_uri}/model/model.json`);
    expect(fileURLToPath(v!.source).startsWith(join(home, 'lab', 'model-files'))).toBe(true);
    expect(mlflow.experiments.get(run.info.experiment_id)).toMatchObject({
      name: expect.stringMatching(/^mlops-agent lab /),
      artifact_location: pathToFileURL(join(home, 'lab', 'model-files')).href,
    });
    expect(run.data.metrics.map((m) => m.key)).toEqual(expect.arrayContaining(['auc', 'calibration_error']));
    expect(run.data.params.length).toBeGreaterThan(0);
    const version = await opened.backends.registry.getVersion('credit-risk', '1');
    expect(version).toMatchObject({ dataset: 'credit-train', createdBy: 'alice', promotable: true });
    expect(version!.trainingJobId).toMatch(/^job-/);
    // The lab's own registry holds nothing: MLflow is the one registry.
    expect(await opened.lab.registry.listModels()).toEqual([]);
  });

  it('keeps the idempotency key contract: a repeat start is the same job, and lookup finds it ended with its MLflow version', async () => {
    const again = await opened.backends.trainer.start({
      model: 'credit-risk',
      dataset: 'credit-train',
      params: {},
      requestedBy: 'alice',
      idempotencyKey: 'run_7:call_1',
    });
    expect(again).toMatchObject({ status: 'succeeded', version: '1' });
    expect(await opened.backends.trainer.lookup('run_7:call_1')).toMatchObject({
      state: 'ended',
      work: { version: '1' },
    });
    expect(mlflow.versions.get('credit-risk')).toHaveLength(1);
  });

  it("serves an MLflow version whose source is a lab model file, and moves MLflow's champion alias", async () => {
    const split = await opened.lab.deployer.serve('credit-risk', 'production', '1');
    expect(split).toMatchObject({ stableVersion: '1', lastKnownGoodVersion: '1' });
    await opened.backends.registry.setAlias('credit-risk', 'champion', '1', 'alice', 'first release');
    expect([...mlflow.models.get('credit-risk')!.aliases]).toEqual([['champion', '1']]);
  });

  it("refuses to open for serve and workers on a home where `lab up` runs on the lab's own registry", async () => {
    const other = await mkdtemp(join(tmpdir(), 'mlflow-lab-up-'));
    try {
      // The record a running `lab up` of an older release leaves, which names no registry: it
      // served the lab's own (this process stands in as its owner, alive).
      await mkdir(join(other, 'lab'), { recursive: true });
      await writeFile(
        join(other, 'lab', 'up.json'),
        JSON.stringify({
          pid: process.pid,
          processToken: PROCESS_TOKEN,
          control: 'http://127.0.0.1:1',
          token: 't',
          servers: {},
        }),
      );
      const backends = backendsSchema.parse({ mlflow: { trackingUri: mlflow.url } });
      await expect(
        openBackends({ home: other, qualityGates, backends }, { logger: silentLogger, runningLab: true }),
      ).rejects.toThrow(
        /`mlops-agent lab up` runs on .* serves versions from the lab's own registry, but this process's registry is MLflow at http:\/\/127\.0\.0\.1:\d+: give serve and workers the same backends\.registry .* or stop `lab up`/,
      );
      // Nor may it act on a `lab up` whose MLflow is another tracking server.
      await writeFile(
        join(other, 'lab', 'up.json'),
        JSON.stringify({
          pid: process.pid,
          processToken: PROCESS_TOKEN,
          control: 'http://127.0.0.1:1',
          token: 't',
          servers: {},
          registry: { kind: 'mlflow', trackingUri: 'http://mlflow.elsewhere:5000' },
        }),
      );
      await expect(
        openBackends({ home: other, qualityGates, backends }, { logger: silentLogger, runningLab: true }),
      ).rejects.toThrow(
        /serves versions from MLflow at http:\/\/mlflow\.elsewhere:5000, but this process's registry is MLflow at/,
      );
    } finally {
      await rm(other, { recursive: true, force: true });
    }
  });

  it('refuses, saying what to use instead, a version whose source is not a lab model file', async () => {
    // A version the team registered from its own pipeline: promotable, its model on S3.
    const team = openMlflowRegistry(backendsSchema.parse({ mlflow: { trackingUri: mlflow.url } }).mlflow);
    const theirs = await team.registerVersion(versionInput('credit-risk'), {
      source: 's3://models/credit-risk/abc123',
    });
    expect(theirs.promotable).toBe(true);
    const refusal =
      /the lab's deployer serves only versions whose source is a lab model file .*version 2 of "credit-risk" has source s3:\/\/models\/credit-risk\/abc123: use deployer kserve/;
    await expect(opened.lab.deployer.serve('credit-risk', 'staging', theirs.version)).rejects.toThrow(refusal);
    await expect(
      opened.backends.deployer.deployCanary({
        model: 'credit-risk',
        version: theirs.version,
        environment: 'production',
        targetPercent: 5,
        requestedBy: 'alice',
        timeoutMs: 5000,
      }),
    ).rejects.toThrow(refusal);
    // MLflow refuses a local source outside the run's artifact directory; one registered before it did is not the lab's either.
    await expect(team.registerVersion(versionInput('credit-risk'), { source: 'file:///etc/passwd' })).rejects.toThrow(
      /INVALID_PARAMETER_VALUE.*Invalid model version source/,
    );
    const versions = mlflow.versions.get('credit-risk')!;
    versions.push({ ...versions.at(-1)!, version: String(versions.length + 1), source: 'file:///etc/passwd' });
    await expect(opened.lab.deployer.serve('credit-risk', 'staging', String(versions.length))).rejects.toThrow(
      /source file:\/\/\/etc\/passwd: use deployer kserve/,
    );
    expect(await opened.backends.deployer.getSplit('credit-risk', 'staging')).toBeUndefined();
  });
});
