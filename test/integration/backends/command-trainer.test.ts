// The command trainer runs a real child process (test/support/train-command.mjs) with no
// shell, and keeps its jobs in real files: the exactly-once contract of the Trainer port.
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createCommandTrainer, type CommandTrainer } from '../../../src/backends/external/command-trainer.js';
import { jobIdForKey, type JobRecord } from '../../../src/backends/external/job-records.js';
import type { CommandTrainerSettings } from '../../../src/backends/settings.js';
import { silentLogger } from '../../../src/logger.js';

const script = fileURLToPath(new URL('../../support/train-command.mjs', import.meta.url));

describe('command trainer', () => {
  let root: string;
  let out: string;
  const trainers: CommandTrainer[] = [];
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'command-trainer-'));
    out = join(root, 'registered');
  });
  afterEach(async () => {
    await Promise.all(trainers.splice(0).map((t) => t.close()));
    await rm(root, { recursive: true, force: true });
  });

  function trainer(
    overrides: Partial<CommandTrainerSettings> = {},
    extra: { versionOfRun?: (model: string, runId: string) => Promise<string | undefined> } = {},
  ): CommandTrainer {
    const settings: CommandTrainerSettings = {
      argv: [
        process.execPath,
        script,
        '--model',
        '{model}',
        '--dataset',
        '{dataset}',
        '--params',
        '{params}',
        '--by',
        '{requestedBy}',
        '--key',
        '{idempotencyKey}',
        '--out',
        out,
      ],
      env: { TRAINING_QUEUE: 'gpu-a' },
      timeoutMs: 20_000,
      ...overrides,
    };
    const t = createCommandTrainer({
      settings,
      dir: join(root, 'state'),
      env: { PATH: process.env.PATH, GEMINI_API_KEY: 'secret-of-the-agent' },
      logger: silentLogger,
      pollIntervalMs: 20,
      ...extra,
    });
    trainers.push(t);
    return t;
  }

  it('runs the command to the version it reports, with each argument filled and passed as is, and only the env it was given', async () => {
    const t = trainer();
    const params = { learningRate: 0.1, note: '$(touch pwned); rm -rf /' } as Record<string, string | number>;
    const job = await t.start({
      model: 'credit-risk',
      dataset: 'credit-train',
      params,
      requestedBy: 'user:alice',
      idempotencyKey: 'run_1:call_1',
    });
    expect(job).toMatchObject({
      model: 'credit-risk',
      dataset: 'credit-train',
      status: 'queued',
      version: null,
      jobId: jobIdForKey('run_1:call_1'),
    });
    const done = await t.waitFor(job.jobId, { timeoutMs: 15_000 });
    expect(done).toMatchObject({ status: 'succeeded', version: '1', progress: 1, error: null });
    expect(done.finishedAt).not.toBeNull();
    const seen = JSON.parse(await readFile(join(out, `${job.jobId}.argv.json`), 'utf8')) as {
      argv: string[];
      env: Record<string, string>;
    };
    expect(seen.argv).toEqual([
      '--model',
      'credit-risk',
      '--dataset',
      'credit-train',
      '--params',
      JSON.stringify(params),
      '--by',
      'user:alice',
      '--key',
      'run_1:call_1',
      '--out',
      out,
    ]);
    expect(seen.env).toMatchObject({
      TRAINING_QUEUE: 'gpu-a',
      MLOPS_AGENT_JOB_ID: job.jobId,
      MLOPS_AGENT_IDEMPOTENCY_KEY: 'run_1:call_1',
    });
    expect(seen.env.GEMINI_API_KEY).toBeUndefined();
    expect(await readdir(root)).not.toContain('pwned');
  });

  it('answers the same job for a retried key, concurrently and later, and a new job for a new key', async () => {
    const t = trainer();
    const request = {
      model: 'credit-risk',
      dataset: 'slow-300',
      params: {},
      requestedBy: 'alice',
      idempotencyKey: 'retrain-42',
    };
    const [a, b] = await Promise.all([t.start(request), t.start(request)]);
    const c = await t.start(request);
    expect(new Set([a.jobId, b.jobId, c.jobId]).size).toBe(1);
    const other = await t.start({ ...request, idempotencyKey: 'retrain-43' });
    expect(other.jobId).not.toBe(a.jobId);
    await Promise.all([t.waitFor(a.jobId, { timeoutMs: 15_000 }), t.waitFor(other.jobId, { timeoutMs: 15_000 })]);
    expect((await readdir(out)).filter((f) => f.endsWith('.registered')).sort()).toEqual([
      '1.registered',
      '2.registered',
    ]);
    await expect(t.start({ ...request, dataset: 'credit-recent' })).rejects.toThrow(
      /idempotency key "retrain-42" was already used for job .* with a different request/,
    );
  });

  it('answers what became of a key: not started, started, then ended with the job; another process (a restart) answers the same', async () => {
    const t = trainer();
    expect(await t.lookup('run_7:call_2')).toEqual({ state: 'not_started' });
    const job = await t.start({
      model: 'credit-risk',
      dataset: 'slow-400',
      params: {},
      requestedBy: 'alice',
      idempotencyKey: 'run_7:call_2',
    });
    expect(await t.lookup('run_7:call_2')).toMatchObject({ state: 'started', work: { jobId: job.jobId } });
    const done = await t.waitFor(job.jobId, { timeoutMs: 15_000 });
    expect(await t.lookup('run_7:call_2')).toEqual({ state: 'ended', work: done });
    expect(await trainer().lookup('run_7:call_2')).toEqual({ state: 'ended', work: done });
  });

  it('fails a job whose process died mid-command, saying the outcome is unknown, instead of waiting for ever', async () => {
    const t = trainer();
    const jobId = jobIdForKey('run_9:call_1');
    const orphan: JobRecord = {
      jobId,
      model: 'credit-risk',
      dataset: 'credit-train',
      status: 'running',
      progress: 0.25,
      startedAt: new Date().toISOString(),
      finishedAt: null,
      version: null,
      error: null,
      idempotencyKey: 'run_9:call_1',
      requestedBy: 'alice',
      params: {},
      searchTrials: 0,
      runId: null,
      // A pid that cannot run: the process that started the command is gone.
      owner: { pid: 2 ** 22 + 17, token: 'gone' },
    };
    await trainer().start({ model: 'x', dataset: 'credit-train', params: {}, requestedBy: 'a' }); // creates the directory
    await writeFile(join(root, 'state', 'jobs', `${jobId}.json`), JSON.stringify(orphan));
    const found = await t.lookup('run_9:call_1');
    expect(found).toMatchObject({ state: 'ended', work: { status: 'failed', version: null } });
    expect(found.state !== 'not_started' && found.work.error).toMatch(
      /stopped before the command finished; whether it registered a version is unknown/,
    );
  });

  it("fails the job with the command's own words when it exits non-zero", async () => {
    const t = trainer();
    const done = await t.waitFor(
      (await t.start({ model: 'credit-risk', dataset: 'fails', params: {}, requestedBy: 'alice' })).jobId,
      { timeoutMs: 15_000 },
    );
    expect(done).toMatchObject({ status: 'failed', version: null });
    expect(done.error).toMatch(/exited with code 2: Traceback: KeyError: "default" column missing/);
  });

  it('fails a command that ends without naming a version, saying what it must print', async () => {
    const t = trainer();
    const done = await t.waitFor(
      (await t.start({ model: 'credit-risk', dataset: 'silent', params: {}, requestedBy: 'alice' })).jobId,
      { timeoutMs: 15_000 },
    );
    expect(done.error).toMatch(/must report a JSON object \{"version": "N"\} or \{"runId"/);
  });

  it('turns a reported MLflow run into its registered version through the registry', async () => {
    const t = trainer(
      {},
      { versionOfRun: async (model, runId) => (model === 'credit-risk' && runId === 'run-1' ? '11' : undefined) },
    );
    const done = await t.waitFor(
      (await t.start({ model: 'credit-risk', dataset: 'run-only', params: {}, requestedBy: 'alice' })).jobId,
      { timeoutMs: 15_000 },
    );
    expect(done).toMatchObject({ status: 'succeeded', version: '11' });
    const without = trainer();
    const failed = await without.waitFor(
      (await without.start({ model: 'credit-risk', dataset: 'run-only', params: {}, requestedBy: 'alice' })).jobId,
      { timeoutMs: 15_000 },
    );
    expect(failed.error).toMatch(/named MLflow run run-2 but the registry is not MLflow/);
  });

  it('stops a command that runs past its timeout and fails the job', async () => {
    const t = trainer({ timeoutMs: 300 });
    const done = await t.waitFor(
      (await t.start({ model: 'credit-risk', dataset: 'slow-10000', params: {}, requestedBy: 'alice' })).jobId,
      { timeoutMs: 15_000 },
    );
    expect(done).toMatchObject({ status: 'failed', error: 'training command timed out after 300 ms and was stopped' });
  });

  it('fails the job, naming the program, when the program does not exist', async () => {
    const t = trainer({ argv: [join(root, 'no-such-trainer'), '{model}'] });
    const done = await t.waitFor(
      (await t.start({ model: 'credit-risk', dataset: 'd', params: {}, requestedBy: 'alice' })).jobId,
      { timeoutMs: 15_000 },
    );
    expect(done.error).toMatch(/could not start training command ".*no-such-trainer": spawn .* ENOENT/);
  });
});
