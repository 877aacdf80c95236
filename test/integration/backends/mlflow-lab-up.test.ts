// `mlops-agent lab init` and `lab up` on the MLflow registry, opened as the CLI opens them
// (openLab over a loaded config), against the MLflow REST protocol server: init seeds both
// models into MLflow, lab up serves MLflow's champion with live traffic, and a canary of an
// MLflow version that serve starts (through the running lab's deployer) gets traffic and is
// analysed. A serve with another registry than lab up's is refused.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, type Config } from '../../../src/app/config.js';
import { openLab, seedLab, startLabUp, type OpenedLab } from '../../../src/app/lab.js';
import { openBackends } from '../../../src/backends/from-config.js';
import { openMlflowRegistry } from '../../../src/backends/mlflow/index.js';
import type { LabUp } from '../../../src/backends/local/lab-up.js';
import { silentLogger } from '../../../src/logger.js';
import { startFakeMlflow, type FakeMlflow } from '../../support/mlflow-server.js';

describe('lab init and lab up on the MLflow registry', () => {
  let dir: string;
  let home: string;
  let mlflow: FakeMlflow;
  let config: Config;
  let lab: OpenedLab | undefined;
  let up: LabUp | undefined;
  const printed: string[] = [];

  async function writeConfig(name: string, backends: string[]): Promise<Config> {
    const file = join(dir, `${name}.yaml`);
    await writeFile(
      file,
      [
        `home: ${JSON.stringify(home)}`,
        // Short steps, as the other lab tests use: half the traffic, then all of it.
        'lab:',
        '  canary: { steps: [50, 100], minRequestsPerStep: 20, stepTimeoutMs: 60000 }',
        'backends:',
        ...backends,
        '',
      ].join('\n'),
    );
    return loadConfig({ file, cwd: dir, env: {} });
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mlflow-lab-up-'));
    home = join(dir, 'home');
    mlflow = await startFakeMlflow();
    config = await writeConfig('mlflow', [
      '  registry: mlflow',
      '  mlflow:',
      `    trackingUri: ${mlflow.url}`,
      '    qualityGates:',
      '      - { gate: auc, metric: auc, threshold: 0.7, direction: min, model: credit-risk }',
      '      - { gate: calibration_error, metric: calibration_error, threshold: 0.1, direction: max, model: credit-risk }',
      '      - { gate: sharpe_per_trade, metric: sharpe_per_trade, threshold: 0.05, direction: min, model: fx-signal }',
    ]);
    const init = await openLab(config, silentLogger);
    try {
      expect(await seedLab(init, (line) => printed.push(line))).toBe(true);
    } finally {
      await init.close();
    }
  }, 300_000);

  afterAll(async () => {
    await up?.close();
    await lab?.close();
    await mlflow?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('lab init seeds both models into MLflow: versions whose sources are lab model files, the champion alias set', async () => {
    for (const model of ['credit-risk', 'fx-signal']) {
      const versions = mlflow.versions.get(model)!;
      expect(versions.length).toBeGreaterThanOrEqual(2);
      for (const v of versions) expect(fileURLToPath(v.source).startsWith(join(home, 'lab', 'model-files'))).toBe(true);
      expect(mlflow.models.get(model)!.aliases.get('champion')).toBeDefined();
    }
    // A gate that names a model applies to that model only: fx-signal logs no calibration.
    const signal = await openMlflowRegistry(config.backends.mlflow).getVersion('fx-signal', '1');
    expect(signal!.qualityGates.map((g) => g.gate)).toEqual(['sharpe_per_trade']);
    expect(printed.join('\n')).toMatch(/credit-risk: v\d+ is champion and serves 100% of production/);
  });

  it("a second lab init changes nothing in MLflow or the lab, and the lab's own registry stays empty", async () => {
    const before = [...mlflow.versions.values()].flat().length;
    const again = await openLab(config, silentLogger);
    try {
      expect(await seedLab(again, () => undefined)).toBe(false);
      expect(again.serves).toEqual({ kind: 'mlflow', trackingUri: mlflow.url });
      expect(await again.registry.listModels()).toEqual([]);
    } finally {
      await again.close();
    }
    expect([...mlflow.versions.values()].flat().length).toBe(before);
  }, 60_000);

  it("lab up serves MLflow's champion, and a canary of an MLflow version that serve starts gets traffic and is analysed", async () => {
    lab = await openLab(config, silentLogger, { minRequestsPerStep: 20 });
    up = await startLabUp(
      lab,
      {
        host: '127.0.0.1',
        ports: { control: 0, credit: 0, trading: 0 },
        ratePerSecond: 60,
        labelDelayMs: 200,
        windowMs: 5_000,
        registry: lab.serves,
      },
      silentLogger,
    );
    expect(up.record.registry).toEqual({ kind: 'mlflow', trackingUri: mlflow.url });
    const champion = mlflow.models.get('credit-risk')!.aliases.get('champion')!;
    expect(lab.deployer.currentSplit('credit-risk', 'production')).toMatchObject({ stableVersion: champion });
    const candidate = mlflow.versions
      .get('credit-risk')!
      .map((v) => String(v.version))
      .find((v) => v !== champion)!;

    // As serve and workers open it while the lab is up: the same registry, so they act on lab up's deployer.
    const serve = await openBackends(config, { logger: silentLogger, runningLab: true });
    try {
      expect(serve.chosen.registry).toBe('mlflow');
      const rollout = await serve.backends.deployer.deployCanary({
        model: 'credit-risk',
        version: candidate,
        environment: 'production',
        targetPercent: 100,
        requestedBy: 'alice',
        timeoutMs: 60_000,
      });
      expect(rollout.canaryVersion).toBe(candidate);
      expect(rollout.analyses.length).toBeGreaterThanOrEqual(1);
      const requests = rollout.analyses[0]!.checks.find((c) => c.check === 'canary_requests')!;
      expect(requests).toMatchObject({ passed: true });
      expect(requests.canary).toBeGreaterThanOrEqual(20);
      expect(rollout.status).not.toBe('progressing');
    } finally {
      await serve.close();
    }
  }, 120_000);

  it('lab init says at once when an MLflow quality gate reads a metric a lab model never logs', async () => {
    const other = await startFakeMlflow();
    const otherHome = join(dir, 'other-home');
    try {
      const file = join(dir, 'gates-for-all.yaml');
      await writeFile(
        file,
        [
          `home: ${JSON.stringify(otherHome)}`,
          'backends:',
          '  mlflow:',
          `    trackingUri: ${other.url}`,
          '    qualityGates:',
          '      - { gate: auc, metric: auc, threshold: 0.5, direction: min }',
          '      - { gate: calibration_error, metric: calibration_error, threshold: 0.5, direction: max }',
          '',
        ].join('\n'),
      );
      const init = await openLab(loadConfig({ file, cwd: dir, env: {} }), silentLogger);
      try {
        await expect(seedLab(init, () => undefined)).rejects.toThrow(
          /fx-signal v1 cannot pass the quality gate calibration_error: the lab's trainer logs no such metric for fx-signal .*give each of backends\.mlflow\.qualityGates a `model:`/,
        );
      } finally {
        await init.close();
      }
      // One training of fx-signal, not six.
      expect(other.versions.get('fx-signal')).toHaveLength(1);
    } finally {
      await other.close();
    }
  }, 120_000);

  it("refuses serve and workers whose registry is not lab up's, saying which each uses", async () => {
    expect(up).toBeDefined();
    const local = await writeConfig('local', ['  registry: local']);
    await expect(openBackends(local, { logger: silentLogger, runningLab: true })).rejects.toThrow(
      /serves versions from MLflow at http:\/\/127\.0\.0\.1:\d+, but this process's registry is the lab's own registry: give serve and workers the same backends.registry/,
    );
  });
});
