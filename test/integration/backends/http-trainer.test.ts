// The http trainer against a real HTTP training service (test/support/training-service.ts)
// and real job files: starts, polling, and the exactly-once contract of the Trainer port.
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createHttpTrainer } from '../../../src/backends/external/http-trainer.js';
import { jobIdForKey } from '../../../src/backends/external/job-records.js';
import { silentLogger } from '../../../src/logger.js';
import type { Trainer } from '../../../tools/ports.js';
import { startTrainingService, type TrainingService } from '../../support/training-service.js';

const TOKEN = 'service-token-123';

describe('http trainer', () => {
  let root: string;
  let service: TrainingService;
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'http-trainer-'));
    service = await startTrainingService({ token: TOKEN });
  });
  afterEach(async () => {
    await service.close();
    await rm(root, { recursive: true, force: true });
  });

  const trainer = (overrides: { token?: string; startUrl?: string } = {}): Trainer =>
    createHttpTrainer({
      settings: {
        startUrl: overrides.startUrl ?? `${service.url}/jobs`,
        statusUrl: `${service.url}/jobs/{jobId}`,
        token: overrides.token ?? TOKEN,
        pollIntervalMs: 10,
        requestTimeoutMs: 5000,
      },
      dir: root,
      logger: silentLogger,
    });

  it('POSTs the job with its key and polls the status URL to the registered version', async () => {
    const t = trainer();
    const job = await t.start({
      model: 'credit-risk',
      dataset: 'credit-train',
      params: { epochs: 5 },
      requestedBy: 'user:alice',
      idempotencyKey: 'run_1:call_1',
    });
    expect(job).toMatchObject({ jobId: jobIdForKey('run_1:call_1'), status: 'queued', version: null });
    expect(service.posts[0]).toEqual({
      idempotencyKey: 'run_1:call_1',
      body: {
        jobId: job.jobId,
        model: 'credit-risk',
        dataset: 'credit-train',
        params: { epochs: 5 },
        searchTrials: 0,
        requestedBy: 'user:alice',
        idempotencyKey: 'run_1:call_1',
      },
    });
    const early = await t.waitFor(job.jobId, { timeoutMs: 1 });
    expect(['queued', 'running']).toContain(early.status);
    const done = await t.waitFor(job.jobId, { timeoutMs: 5000 });
    expect(done).toMatchObject({ status: 'succeeded', version: '1', progress: 1 });
    expect(await t.waitFor(job.jobId, { timeoutMs: 1 })).toEqual(done);
  });

  it('starts one job per key, however often and from however many processes the start is retried', async () => {
    const request = {
      model: 'credit-risk',
      dataset: 'credit-train',
      params: {},
      requestedBy: 'alice',
      idempotencyKey: 'retrain-42',
    };
    const [a, b] = await Promise.all([trainer().start(request), trainer().start(request)]);
    const c = await trainer().start(request);
    expect(new Set([a.jobId, b.jobId, c.jobId]).size).toBe(1);
    expect(service.jobs.size).toBe(1);
  });

  it('answers what became of a key, also after a crash between writing the key and reaching the service', async () => {
    const t = trainer();
    expect(await t.lookup('run_7:call_2')).toEqual({ state: 'not_started' });
    const job = await t.start({
      model: 'credit-risk',
      dataset: 'credit-train',
      params: {},
      requestedBy: 'alice',
      idempotencyKey: 'run_7:call_2',
    });
    expect(await trainer().lookup('run_7:call_2')).toMatchObject({ state: 'started', work: { jobId: job.jobId } });
    const done = await t.waitFor(job.jobId, { timeoutMs: 5000 });
    expect(await trainer().lookup('run_7:call_2')).toEqual({ state: 'ended', work: done });

    // The record of key K was written, then the process died before its POST arrived.
    const lost = jobIdForKey('run_8:call_1');
    await mkdir(join(root, 'jobs'), { recursive: true });
    await writeFile(
      join(root, 'jobs', `${lost}.json`),
      JSON.stringify({
        ...done,
        jobId: lost,
        status: 'queued',
        version: null,
        finishedAt: null,
        progress: 0,
        idempotencyKey: 'run_8:call_1',
        requestedBy: 'alice',
        params: {},
        searchTrials: 0,
        runId: null,
        owner: { pid: 1, token: 'x' },
      }),
    );
    expect(await trainer().lookup('run_8:call_1')).toEqual({ state: 'not_started' });
    const again = await trainer().start({
      model: 'credit-risk',
      dataset: 'credit-train',
      params: {},
      requestedBy: 'alice',
      idempotencyKey: 'run_8:call_1',
    });
    expect(again.jobId).toBe(lost);
    expect(service.jobs.has(lost)).toBe(true);
  });

  it("frees a key the service refused, with the service's reason", async () => {
    const t = trainer();
    await expect(
      t.start({
        model: 'credit-risk',
        dataset: 'missing',
        params: {},
        requestedBy: 'alice',
        idempotencyKey: 'run_7:call_3',
      }),
    ).rejects.toThrow(/refused the job \(HTTP 422\): .*dataset \\"missing\\" not found/);
    expect(await t.lookup('run_7:call_3')).toEqual({ state: 'not_started' });
  });

  it('reports a job the service failed with its reason', async () => {
    const t = trainer();
    const done = await t.waitFor(
      (await t.start({ model: 'credit-risk', dataset: 'broken', params: {}, requestedBy: 'alice' })).jobId,
      { timeoutMs: 5000 },
    );
    expect(done).toMatchObject({
      status: 'failed',
      version: null,
      error: 'training service reported the job failed: label column "default" missing',
    });
  });

  it('says what to fix on a bad token and on an unreachable service', async () => {
    await expect(
      trainer({ token: 'wrong-token-0000' }).start({ model: 'm', dataset: 'd', params: {}, requestedBy: 'a' }),
    ).rejects.toThrow(/refused the credentials \(HTTP 401\): check backends.httpTrainer.token/);
    const closed = service.url;
    await service.close();
    service = await startTrainingService({ token: TOKEN });
    await expect(
      trainer({ startUrl: `${closed}/jobs` }).start({ model: 'm', dataset: 'd', params: {}, requestedBy: 'a' }),
    ).rejects.toThrow(
      `training service: cannot reach ${closed}/jobs (ECONNREFUSED): check the URL and that the server is running`,
    );
  });
});
