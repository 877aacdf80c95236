import { z } from 'zod';
import { defineTool, NO_RISK } from './define-tool.js';
import type { Backends, TrainingJob } from './ports.js';

const input = z
  .object({
    model: z.string().min(1).describe('Model to retrain, e.g. "credit-risk"'),
    dataset: z
      .string()
      .min(1)
      .describe('Dataset to train on, e.g. "credit-recent"; its content hash becomes the data version'),
    params: z
      .object({
        learningRate: z.number().positive().max(10).optional(),
        l2: z.number().min(0).max(10).optional(),
        epochs: z.number().int().min(1).max(500).optional(),
        batchSize: z.number().int().min(1).max(100_000).optional(),
        seed: z.number().int().optional(),
      })
      .strict()
      .optional()
      .describe('Training parameters; omitted ones take the trainer defaults'),
    searchTrials: z
      .number()
      .int()
      .min(0)
      .max(20)
      .optional()
      .describe('Random-search trials around params (0 trains once); every trial is recorded'),
    waitForCompletion: z
      .boolean()
      .optional()
      .describe('Wait for the job to finish and return the registered version (default true)'),
  })
  .strict();

const output = z.object({
  jobId: z.string(),
  status: z.enum(['queued', 'running', 'succeeded', 'failed']),
  progress: z.number(),
  version: z.string().nullable(),
  error: z.string().nullable(),
  metrics: z.record(z.number()).optional(),
  failedQualityGates: z.array(z.string()).optional(),
  promotable: z.boolean().optional(),
  /** The data-quality report recorded in the version's lineage (null: the data was never checked). */
  dataQualityReport: z.string().nullable().optional(),
});

/** What poll needs: the job, and whether the caller wanted to wait for it to finish. */
const handle = z.object({ jobId: z.string().min(1), waitForCompletion: z.boolean() }).strict();

/** A job that has not finished by then fails the call as timed out; the job itself runs on. */
const WAIT_TIMEOUT_MS = 10 * 60_000;

type Output = z.infer<typeof output>;

/** The job as the tool reports it: with the registered version's metrics and gates once it succeeded. */
async function describeJob(job: TrainingJob, registry: Backends['registry']): Promise<Output> {
  const base = { jobId: job.jobId, status: job.status, progress: job.progress, version: job.version, error: job.error };
  if (job.status !== 'succeeded' || !job.version) return base;
  const version = await registry.getVersion(job.model, job.version);
  if (!version) return base;
  return {
    ...base,
    metrics: version.metrics,
    failedQualityGates: version.qualityGates.filter((g) => !g.passed).map((g) => g.gate),
    promotable: version.promotable,
    dataQualityReport: version.dataQualityReport,
  };
}

const finished = (job: TrainingJob) => job.status === 'succeeded' || job.status === 'failed';

export const triggerRetrain = defineTool({
  name: 'trigger_retrain',
  description:
    'Start training a new version of a model on a dataset. Check the dataset with check_data_quality first: the policy reads the stored verdict on its exact content, and data never checked, or that broke a hard rule of its data contract, is refused (the trainer refuses the latter too). The new version is registered with its lineage, metrics and quality-gate results; a version that fails a quality gate is registered but can never be promoted. Returns the training job id and, when waiting (default; the run waits for the job, which may take minutes, without holding anything up), the new version, its metrics and whether it is promotable. Serving is not changed.',
  input,
  output,
  handle,
  annotations: { readOnly: false, destructive: false, idempotent: false, openWorld: true },
  // Training only adds a version; nothing is served until a canary, so it touches no
  // environment. What it risks is the data: the verdict stored on its current content.
  async assessRisk(args, { backends }) {
    const found = await backends.dataQuality.verdict(args.dataset);
    const v = found.verdict;
    return {
      ...NO_RISK,
      data: {
        dataset: found.dataset,
        version: found.dataVersion,
        checked: found.checked,
        passed: v?.passed ?? false,
        failedChecks: v?.failedChecks ?? [],
        softFailures: v?.softFailures ?? [],
        driftOnly: v?.driftOnly ?? false,
      },
    };
  },
  async start(args, { backends, principal, idempotencyKey }) {
    // The trainer dedupes on the key: a second start of this call returns the same job.
    const job = await backends.trainer.start({
      model: args.model,
      dataset: args.dataset,
      params: args.params ?? {},
      searchTrials: args.searchTrials ?? 0,
      requestedBy: principal,
      idempotencyKey,
    });
    return {
      handle: { jobId: job.jobId, waitForCompletion: args.waitForCompletion !== false },
      timeoutMs: WAIT_TIMEOUT_MS,
    };
  },
  async lookup(args, { backends, idempotencyKey }) {
    const found = await backends.trainer.lookup(idempotencyKey);
    if (found.state === 'not_started') return found;
    // Ended or not, the job is followed like a started one: poll reads its end.
    return {
      state: 'started',
      handle: { jobId: found.work.jobId, waitForCompletion: args.waitForCompletion !== false },
      timeoutMs: WAIT_TIMEOUT_MS,
    };
  },
  async poll({ jobId, waitForCompletion }, { backends }) {
    const job = await backends.trainer.get(jobId);
    if (!job) throw new Error(`training job ${jobId} is not known to this trainer`);
    if (waitForCompletion && !finished(job)) return null;
    return describeJob(job, backends.registry);
  },
  async whenDone({ jobId }, { backends }, { timeoutMs, signal }) {
    await backends.trainer.waitFor(jobId, { timeoutMs, signal });
  },
  describeWait: ({ jobId }) => `training job ${jobId} running`,
  summarize(out) {
    if (out.status !== 'succeeded')
      return `training job ${out.jobId} ${out.status}${out.error ? `: ${out.error}` : ''}`;
    const auc = out.metrics?.auc;
    return `job ${out.jobId} registered v${out.version} (AUC ${auc?.toFixed(4) ?? 'n/a'}, ${out.promotable ? 'promotable' : `failed gates: ${out.failedQualityGates?.join(', ')}`})`;
  },
});
