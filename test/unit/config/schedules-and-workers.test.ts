// The config keys of intake: the queue, the workers and the schedules, each refused with
// its key named; and the runtime's check that a schedule can be planned.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/app/config.js';
import { silentLogger } from '../../../src/logger.js';
import { createRuntime } from '../../../src/app/runtime.js';
import { memoryBackends } from '../../support/memory-backends.js';

let dir: string;
afterEach(() => rmSync(dir, { recursive: true, force: true }));
const withFile = (yaml: string) => {
  dir = mkdtempSync(join(tmpdir(), 'mlops-config-'));
  writeFileSync(join(dir, 'mlops-agent.yaml'), yaml);
  return dir;
};

const nightly = `schedules:
  - name: nightly-credit-risk
    cron: "0 2 * * *"
    tz: Europe/London
    task: Retrain credit-risk on last night's applications
    runbook: nightly-retrain
    labels: { model: credit-risk, dataset: credit-recent, environment: production }
`;

describe('the queue, worker and schedule keys', () => {
  it('default to three tries backing off from 1 s, two runs at a time, an in-process worker and no schedules', () => {
    const config = loadConfig({ env: {}, cwd: withFile('{}\n') });
    expect(config.queue).toEqual({ prefix: 'mlops', attempts: 3, backoffMs: 1000 });
    expect(config.worker).toEqual({
      concurrency: 2,
      inProcess: true,
      shutdownGraceMs: 20_000,
      lockDurationMs: 30_000,
      maxStalls: 1,
    });
    expect(config.schedules).toEqual([]);
  });

  it('take how often a run may lose its worker, and refuse 0 naming the key', () => {
    const cwd = withFile('worker:\n  maxStalls: 3\n');
    expect(loadConfig({ env: {}, cwd }).worker.maxStalls).toBe(3);
    writeFileSync(join(cwd, 'mlops-agent.yaml'), 'worker:\n  maxStalls: 0\n');
    expect(() => loadConfig({ env: {}, cwd })).toThrow(/worker\.maxStalls/);
  });

  it('read a schedule, and the worker settings from the environment', () => {
    const config = loadConfig({
      env: {
        MLOPS_AGENT_WORKER_CONCURRENCY: '8',
        MLOPS_AGENT_QUEUE_PREFIX: 'agent-eu',
        MLOPS_AGENT_METRICS_PORT: '9464',
      },
      cwd: withFile(nightly),
    });
    expect(config.schedules).toEqual([
      {
        name: 'nightly-credit-risk',
        cron: '0 2 * * *',
        tz: 'Europe/London',
        task: "Retrain credit-risk on last night's applications",
        runbook: 'nightly-retrain',
        labels: { model: 'credit-risk', dataset: 'credit-recent', environment: 'production' },
      },
    ]);
    expect(config.worker).toMatchObject({ concurrency: 8, metricsPort: 9464 });
    expect(config.queue.prefix).toBe('agent-eu');
  });

  it('refuse a bad cron, an unknown time zone, a name used twice, and unknown keys, naming each', () => {
    expect(() =>
      loadConfig({ env: {}, cwd: withFile('schedules:\n  - { name: a, cron: "61 * * * *", task: t }\n') }),
    ).toThrow(/schedules\.0\.cron: not a cron expression: Constraint error, got value 61 expected range 0-59/);
    rmSync(dir, { recursive: true, force: true });
    expect(() =>
      loadConfig({
        env: {},
        cwd: withFile('schedules:\n  - { name: a, cron: "0 2 * * *", tz: Mars/Olympus, task: t }\n'),
      }),
    ).toThrow(/schedules\.0\.tz: not an IANA time zone/);
    rmSync(dir, { recursive: true, force: true });
    expect(() =>
      loadConfig({
        env: {},
        cwd: withFile(
          'schedules:\n  - { name: a, cron: "0 2 * * *", task: t }\n  - { name: a, cron: "0 3 * * *", task: u }\n',
        ),
      }),
    ).toThrow(/schedules\.1\.name: schedule name "a" is used twice/);
    rmSync(dir, { recursive: true, force: true });
    expect(() =>
      loadConfig({ env: {}, cwd: withFile('schedules:\n  - { name: a, cron: "0 2 * * *", task: t, every: 5 }\n') }),
    ).toThrow(/Unrecognized key.*every/);
  });

  it('refuse a worker-less serve without Redis, and a concurrency from the environment that is not a number', () => {
    expect(() => loadConfig({ env: {}, cwd: withFile('worker:\n  inProcess: false\n') })).toThrow(
      /worker\.inProcess: is false but redisUrl \(REDIS_URL\) is not set/,
    );
    expect(loadConfig({ env: { REDIS_URL: 'redis://127.0.0.1:6379' }, cwd: dir }).worker.inProcess).toBe(false);
    expect(() => loadConfig({ env: { MLOPS_AGENT_WORKER_CONCURRENCY: 'many' }, cwd: dir })).toThrow(
      /worker\.concurrency \(env MLOPS_AGENT_WORKER_CONCURRENCY\): Expected number, received nan/,
    );
  });
});

describe('a schedule at start', () => {
  const runtimeFor = (yaml: string, env: Record<string, string> = {}) => {
    const cwd = withFile(yaml);
    return createRuntime({
      config: loadConfig({ env: { MLOPS_AGENT_HOME: cwd, ...env }, cwd }),
      logger: silentLogger,
      backends: memoryBackends(),
    });
  };

  it('is refused when it names a runbook that does not exist', async () => {
    await expect(runtimeFor(nightly.replace('runbook: nightly-retrain', 'runbook: nightly-retrian'))).rejects.toThrow(
      /schedules\.0\.runbook: no runbook "nightly-retrian" in prompts\/runbooks \(known: canary-rollback, drift-retrain, nightly-retrain, resource-exhaustion\)/,
    );
  });

  it('is refused when it names no runbook and no LLM is configured', async () => {
    await expect(runtimeFor(nightly.replace('    runbook: nightly-retrain\n', ''))).rejects.toThrow(
      /schedules\.0 \("nightly-credit-risk"\) names no runbook and no LLM is configured/,
    );
  });

  it('needs no runbook when an LLM plans it', async () => {
    const runtime = await runtimeFor(nightly.replace('    runbook: nightly-retrain\n', ''), {
      OPENAI_BASE_URL: 'http://127.0.0.1:1/v1',
    });
    await runtime.close();
  });
});
