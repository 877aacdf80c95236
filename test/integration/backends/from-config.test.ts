// openBackends builds what `backends:` names: the lab by default, an external trainer
// beside the lab's other ports, the lab's deployer judged by Prometheus, and a clear
// refusal for combinations that cannot work.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openBackends } from '../../../src/backends/from-config.js';
import { backendsSchema } from '../../../src/backends/settings.js';
import { silentLogger } from '../../../src/logger.js';

const script = fileURLToPath(new URL('../../support/train-command.mjs', import.meta.url));
const qualityGates = { minAuc: 0.82, maxCalibrationError: 0.05, maxP99LatencyMs: 50, maxParityGap: 0.05 };

describe('openBackends', () => {
  let home: string;
  beforeEach(async () => {
    home = await mkdtemp(join(tmpdir(), 'open-backends-'));
  });
  afterEach(async () => rm(home, { recursive: true, force: true }));

  it('opens the lab for every port by default', async () => {
    const opened = await openBackends(
      { home, qualityGates, backends: backendsSchema.parse({}) },
      { logger: silentLogger },
    );
    try {
      expect(opened.chosen).toEqual({ registry: 'local', analysis: 'local', deployer: 'local', trainer: 'local' });
      expect(opened.backends.registry).toBe(opened.lab.registry);
      expect(opened.backends.trainer).toBe(opened.lab.trainer);
    } finally {
      await opened.close();
    }
  });

  it("puts a command trainer beside the lab's registry and deployer, keeping its jobs under <home>/backends", async () => {
    const out = join(home, 'registered');
    const backends = backendsSchema.parse({
      trainer: 'command',
      commandTrainer: {
        argv: [process.execPath, script, '--model', '{model}', '--dataset', '{dataset}', '--out', out],
      },
    });
    const opened = await openBackends(
      { home, qualityGates, backends },
      { logger: silentLogger, env: { PATH: process.env.PATH } },
    );
    try {
      expect(opened.backends.trainer).not.toBe(opened.lab.trainer);
      const job = await opened.backends.trainer.start({
        model: 'credit-risk',
        dataset: 'credit-train',
        params: {},
        requestedBy: 'alice',
        idempotencyKey: 'run_1:call_1',
      });
      expect(await opened.backends.trainer.waitFor(job.jobId, { timeoutMs: 15_000 })).toMatchObject({
        status: 'succeeded',
        version: '1',
      });
      expect(await opened.backends.trainer.lookup('run_1:call_1')).toMatchObject({ state: 'ended' });
    } finally {
      await opened.close();
    }
  });

  it("gives the lab's deployer the Prometheus analysis it is configured with, and opens nothing of Prometheus at start", async () => {
    const prometheus = {
      url: 'http://prom.invalid:9090',
      metrics: [{ name: 'errors', query: 'up', successCondition: 'result[0] <= 1.0' }],
    };
    const opened = await openBackends(
      { home, qualityGates, backends: backendsSchema.parse({ analysis: 'prometheus', prometheus }) },
      { logger: silentLogger },
    );
    try {
      expect(opened.chosen).toEqual({ registry: 'local', analysis: 'prometheus', deployer: 'local', trainer: 'local' });
      expect(opened.backends.deployer).toBe(opened.lab.deployer);
    } finally {
      await opened.close();
    }
    // A template that is not valid CEL stops the start, before the lab is opened.
    const broken = { ...prometheus, metrics: [{ ...prometheus.metrics[0]!, successCondition: 'result[0] <=' }] };
    await expect(
      openBackends(
        { home, qualityGates, backends: backendsSchema.parse({ analysis: 'prometheus', prometheus: broken }) },
        { logger: silentLogger },
      ),
    ).rejects.toThrow(/analysis metric "errors": successCondition .* is not valid CEL/);
  });

  it('refuses, before opening anything, a KServe deployer without the Prometheus analysis it judges steps with', async () => {
    const kserve = {
      inferenceServices: [
        { model: 'credit-risk', environment: 'production', namespace: 'ml', storageUri: 's3://m/{{version}}' },
      ],
    };
    await expect(
      openBackends(
        { home, qualityGates, backends: backendsSchema.parse({ deployer: 'kserve', kserve }) },
        { logger: silentLogger },
      ),
    ).rejects.toThrow(
      'backends.analysis: is local, but the kserve deployer judges canary steps with Prometheus: set analysis to prometheus',
    );
    expect(() => backendsSchema.parse({ analysis: 'prometheus', prometheus: { url: 'http://prom:9090' } })).toThrow(
      /metrics/,
    );
  });
});
