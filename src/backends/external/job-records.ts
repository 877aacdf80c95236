// The record an external trainer (a command, a training service) keeps of each job it
// started, one JSON file per job under <home>/backends/<trainer>/jobs. A job started under
// an idempotency key has an id derived from the key and is created exclusively, in one
// durable write, before the work starts: any process sharing the directory, including
// one started after a crash, can answer what became of the key.
import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { createFileExclusive, readJsonIfExists, writeFileAtomic } from '../../durable-file.js';
import { UserError } from '../../errors.js';
import { PROCESS_TOKEN } from '../../process-identity.js';
import type { KeyedWork, ParamValue, Trainer, TrainingJob, TrainingRequest } from '../../../tools/ports.js';

export interface JobRecord extends TrainingJob {
  idempotencyKey: string | null;
  requestedBy: string;
  params: Record<string, ParamValue>;
  searchTrials: number;
  /** The MLflow run (or other run id) the work reported, when it named one. */
  runId: string | null;
  /** The process that runs it (a command trainer's child is lost with it). */
  owner: { pid: number; token: string };
}

const JOB_ID = /^ext-[a-z0-9-]{8,64}$/;

export function jobIdForKey(key: string): string {
  return `ext-${createHash('sha256').update(key).digest('hex').slice(0, 32)}`;
}

export function newJobId(now: number): string {
  return `ext-${now.toString(36)}-${randomBytes(6).toString('hex')}`;
}

/** The record of a job about to start: queued, owned by this process, its id from the key when there is one. */
export function newJobRecord(request: TrainingRequest, now: number): JobRecord {
  const key = request.idempotencyKey ?? null;
  return {
    jobId: key ? jobIdForKey(key) : newJobId(now),
    model: request.model,
    dataset: request.dataset,
    status: 'queued',
    progress: 0,
    startedAt: new Date(now).toISOString(),
    finishedAt: null,
    version: null,
    error: null,
    idempotencyKey: key,
    requestedBy: request.requestedBy,
    params: request.params,
    searchTrials: request.searchTrials ?? 0,
    runId: null,
    owner: { pid: process.pid, token: PROCESS_TOKEN },
  };
}

/** The port's view of a record: nothing of the bookkeeping. */
export function toJob(r: JobRecord): TrainingJob {
  const { jobId, model, dataset, status, progress, startedAt, finishedAt, version, error } = r;
  return { jobId, model, dataset, status, progress, startedAt, finishedAt, version, error };
}

export function finished(job: TrainingJob): boolean {
  return job.status === 'succeeded' || job.status === 'failed';
}

export interface JobRecords {
  read(jobId: string): Promise<JobRecord | undefined>;
  /** Creates the record unless one with its id exists; returns the one that is kept. */
  create(record: JobRecord): Promise<{ record: JobRecord; created: boolean }>;
  write(record: JobRecord): Promise<void>;
}

export function createJobRecords(dir: string): JobRecords {
  const file = (jobId: string) => join(dir, `${jobId}.json`);
  return {
    async read(jobId) {
      if (!JOB_ID.test(jobId)) return undefined;
      return readJsonIfExists<JobRecord>(file(jobId));
    },
    async create(record) {
      if (await createFileExclusive(file(record.jobId), `${JSON.stringify(record, null, 2)}\n`))
        return { record, created: true };
      const existing = (await readJsonIfExists<JobRecord>(file(record.jobId)))!;
      return { record: existing, created: false };
    },
    write: (record) => writeFileAtomic(file(record.jobId), `${JSON.stringify(record, null, 2)}\n`),
  };
}

/** A key reused for a different request is a mistake to report, not a job to return. */
export function checkSameRequest(existing: JobRecord, request: TrainingRequest): void {
  const same =
    existing.model === request.model &&
    existing.dataset === request.dataset &&
    JSON.stringify(existing.params) === JSON.stringify(request.params) &&
    existing.searchTrials === (request.searchTrials ?? 0);
  if (!same) {
    throw new UserError(
      `idempotency key "${request.idempotencyKey}" was already used for job ${existing.jobId} with a different request (model, dataset, params or searchTrials)`,
    );
  }
}

/** Polls `read` until the job has finished or the time is up; answers the job as it then is. */
export async function pollUntilFinished(
  read: () => Promise<TrainingJob>,
  options: { timeoutMs: number; signal?: AbortSignal; intervalMs: number },
): Promise<TrainingJob> {
  const deadline = Date.now() + options.timeoutMs;
  let job = await read();
  while (!finished(job) && Date.now() < deadline && !options.signal?.aborted) {
    const wait = Math.min(options.intervalMs, Math.max(0, deadline - Date.now()));
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, wait);
      options.signal?.addEventListener(
        'abort',
        () => {
          clearTimeout(timer);
          resolve();
        },
        { once: true },
      );
    });
    job = await read();
  }
  return job;
}

/**
 * The Trainer port's reads over a way to load a job's current record: what became of a
 * key, one job, and waiting for a job to end (read again every `intervalFor(jobId)` ms).
 */
export function jobReads(
  load: (jobId: string) => Promise<JobRecord | undefined>,
  intervalFor: (jobId: string) => number,
): Pick<Trainer, 'lookup' | 'get' | 'waitFor'> {
  return {
    async lookup(key): Promise<KeyedWork<TrainingJob>> {
      const record = await load(jobIdForKey(key));
      if (!record) return { state: 'not_started' };
      return { state: finished(record) ? 'ended' : 'started', work: toJob(record) };
    },
    async get(jobId) {
      const record = await load(jobId);
      return record ? toJob(record) : undefined;
    },
    async waitFor(jobId, { timeoutMs, signal }) {
      const read = async () => {
        const record = await load(jobId);
        if (!record) throw new UserError(`no training job ${jobId}`, { code: 'not_found' });
        return toJob(record);
      };
      return pollUntilFinished(read, { timeoutMs, intervalMs: intervalFor(jobId), ...(signal ? { signal } : {}) });
    },
  };
}
