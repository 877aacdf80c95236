// The behaviour every Trainer adapter (the local lab, MLflow projects) must show. The
// harness gives a fresh trainer, the registry it registers into, and a way to add datasets.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ModelRegistry, Trainer, TrainingJob } from '../../tools/ports.js';
import { generateCreditRows } from '../../src/backends/local/credit-generator.js';
import type { CreditRow } from '../../src/backends/local/credit-schema.js';

export interface TrainerHarness {
  trainer: Trainer;
  registry: ModelRegistry;
  writeDataset(name: string, rows: CreditRow[], columns?: string[]): Promise<void>;
  cleanup(): Promise<void>;
}

const rows = () => generateCreditRows({ seed: 21, rows: 3000, startDate: '2025-01-01', days: 60 });
const small = { epochs: 8 };

export function describeTrainerContract(adapter: string, create: () => Promise<TrainerHarness>): void {
  describe(`Trainer contract: ${adapter}`, () => {
    let harness: TrainerHarness;
    let trainer: Trainer;
    beforeEach(async () => {
      harness = await create();
      trainer = harness.trainer;
      await harness.writeDataset('credit-train', rows());
    });
    afterEach(async () => harness.cleanup());

    it('runs a job from start to a registered version, reporting progress on the way', async () => {
      const job = await trainer.start({
        model: 'credit-risk',
        dataset: 'credit-train',
        params: small,
        requestedBy: 'alice',
      });
      expect(['queued', 'running']).toContain(job.status);
      expect(job).toMatchObject({
        model: 'credit-risk',
        dataset: 'credit-train',
        version: null,
        error: null,
        finishedAt: null,
      });
      const seen: number[] = [job.progress];
      let current: TrainingJob | undefined = job;
      while (current && current.status !== 'succeeded' && current.status !== 'failed') {
        await new Promise((resolve) => setTimeout(resolve, 20));
        current = await trainer.get(job.jobId);
        if (current) seen.push(current.progress);
      }
      expect(current?.status).toBe('succeeded');
      expect(seen.every((p, i) => p >= 0 && p <= 1 && (i === 0 || p >= seen[i - 1]!))).toBe(true);
      expect(current?.progress).toBe(1);
      const version = await harness.registry.getVersion('credit-risk', current!.version!);
      expect(version).toMatchObject({ trainingJobId: job.jobId, dataset: 'credit-train', createdBy: 'alice' });
      expect(version?.metrics.auc).toBeGreaterThan(0.8);
    });

    it('waitFor resolves with the finished job, or with the job as it is when the timeout passes', async () => {
      const job = await trainer.start({
        model: 'credit-risk',
        dataset: 'credit-train',
        params: small,
        requestedBy: 'alice',
      });
      const early = await trainer.waitFor(job.jobId, { timeoutMs: 1 });
      expect(early.jobId).toBe(job.jobId);
      expect(['queued', 'running']).toContain(early.status);
      const done = await trainer.waitFor(job.jobId, { timeoutMs: 50_000 });
      expect(done.status).toBe('succeeded');
      expect(done.finishedAt).not.toBeNull();
      expect(await trainer.waitFor(job.jobId, { timeoutMs: 1 })).toEqual(done);
    });

    it('returns the same job for a retried request with the same idempotency key', async () => {
      const request = {
        model: 'credit-risk',
        dataset: 'credit-train',
        params: small,
        requestedBy: 'alice',
        idempotencyKey: 'retrain-42',
      };
      const [a, b] = await Promise.all([trainer.start(request), trainer.start(request)]);
      const c = await trainer.start(request);
      expect(new Set([a.jobId, b.jobId, c.jobId]).size).toBe(1);
      const other = await trainer.start({ ...request, idempotencyKey: 'retrain-43' });
      expect(other.jobId).not.toBe(a.jobId);
      await Promise.all([
        trainer.waitFor(a.jobId, { timeoutMs: 50_000 }),
        trainer.waitFor(other.jobId, { timeoutMs: 50_000 }),
      ]);
      expect((await harness.registry.listVersions('credit-risk')).length).toBe(2);
    });

    it('answers what became of a key: not started, then started or ended with the job it started', async () => {
      expect(await trainer.lookup('run_7:call_2')).toEqual({ state: 'not_started' });
      const job = await trainer.start({
        model: 'credit-risk',
        dataset: 'credit-train',
        params: small,
        requestedBy: 'alice',
        idempotencyKey: 'run_7:call_2',
      });
      const found = await trainer.lookup('run_7:call_2');
      expect(found.state === 'started' || found.state === 'ended').toBe(true);
      expect(found).toMatchObject({ work: { jobId: job.jobId } });
      const done = await trainer.waitFor(job.jobId, { timeoutMs: 50_000 });
      expect(await trainer.lookup('run_7:call_2')).toEqual({ state: 'ended', work: done });
      // A refused start under a key started nothing under it.
      await expect(
        trainer.start({
          model: 'credit-risk',
          dataset: 'no-such-data',
          params: {},
          requestedBy: 'alice',
          idempotencyKey: 'run_7:call_3',
        }),
      ).rejects.toThrow();
      expect(await trainer.lookup('run_7:call_3')).toEqual({ state: 'not_started' });
    });

    it('refuses an unknown dataset before starting anything', async () => {
      await expect(
        trainer.start({ model: 'credit-risk', dataset: 'no-such-data', params: {}, requestedBy: 'alice' }),
      ).rejects.toMatchObject({ code: 'not_found' });
    });

    it('refuses unknown params with the allowed names', async () => {
      await expect(
        trainer.start({ model: 'credit-risk', dataset: 'credit-train', params: { lr: 0.1 }, requestedBy: 'alice' }),
      ).rejects.toThrow(/unknown training param "lr".*learningRate/);
    });

    it('fails the job with a clear error when the dataset has no label column', async () => {
      await harness.writeDataset('credit-unlabelled', rows(), [
        'applicant_id',
        'income',
        'debt_ratio',
        'protected_group',
      ]);
      const job = await trainer.start({
        model: 'credit-risk',
        dataset: 'credit-unlabelled',
        params: small,
        requestedBy: 'alice',
      });
      const done = await trainer.waitFor(job.jobId, { timeoutMs: 50_000 });
      expect(done.status).toBe('failed');
      expect(done.error).toMatch(/default/);
      expect(done.version).toBeNull();
    });

    it('refuses data that breaks a hard rule of its data contract, naming the rule, and registers nothing', async () => {
      // Income exported in thousands: every value below the credit contract's 1,000.
      await harness.writeDataset(
        'credit-kusd',
        generateCreditRows({ seed: 21, rows: 3000, startDate: '2025-01-01', days: 60, incomeUnit: 'kusd' }),
      );
      const job = await trainer.start({
        model: 'credit-risk',
        dataset: 'credit-kusd',
        params: small,
        requestedBy: 'alice',
      });
      const done = await trainer.waitFor(job.jobId, { timeoutMs: 50_000 });
      expect(done).toMatchObject({ status: 'failed', version: null });
      expect(done.error).toMatch(/"income\.range"/);
      expect(await harness.registry.listVersions('credit-risk')).toEqual([]);
    });

    it('creates the model when it does not exist yet', async () => {
      const job = await trainer.start({
        model: 'brand-new-model',
        dataset: 'credit-train',
        params: small,
        requestedBy: 'alice',
      });
      expect((await harness.registry.listModels()).map((m) => m.name)).toContain('brand-new-model');
      expect((await trainer.waitFor(job.jobId, { timeoutMs: 50_000 })).version).toBe('1');
    });
  });
}
