// The RunQueue on BullMQ and Redis: many intake processes and workers on many machines.
// The run id is the BullMQ job id, so one run can never be queued twice; coalescing uses
// BullMQ's own deduplication (SET NX of the key inside the add script, deleted by the
// finishing script), so every process agrees without a race between check and add.
import { createHash } from 'node:crypto';
import { Queue, UnrecoverableError, Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import type { Trigger } from '../agent/run.js';
import { systemClock, type Clock } from '../clock.js';
import { describeError, UpstreamError } from '../errors.js';
import { isRetryable } from './retry.js';
import { joinedFrom, newQueuedRunId, type JoinedTrigger, type RunHandler, type RunQueue } from './run-queue.js';

export interface BullmqRunQueueOptions {
  /** `redis://host:port/db` */
  connection: string;
  /** Key prefix of every key this queue writes (BullMQ's and ours). */
  prefix: string;
  queueName: string;
  /** Tries per run, counting the first; retries back off exponentially from 1 s. */
  attempts?: number;
  /** Worker lock and stalled-job recovery; BullMQ's defaults (30 s) suit production. */
  lockDuration?: number;
  stalledInterval?: number;
  /** How often a run may be recovered from a dead worker before it is failed. */
  maxStalledCount?: number;
  /** How long enqueue, joined and depth wait for Redis before failing (default 5000 ms). */
  commandTimeoutMs?: number;
  onError?: (runId: string | null, err: unknown) => void;
  clock?: Clock;
}

/** A new run carries its trigger; a resume names the stored run (its job id is not the run id). */
type JobData = { trigger: Trigger } | { resumeRunId: string };

const DAY_S = 24 * 60 * 60;

function redisError(action: string, err: unknown): UpstreamError {
  if (err instanceof UpstreamError) return err;
  return new UpstreamError('redis', `${action} failed: ${describeError(err)}`, { retryable: true, cause: err });
}

/**
 * BullMQ waits for the connection to become ready without a limit, so an unreachable
 * Redis would hang a webhook forever; this turns the wait into a retryable error. The
 * add may still land if Redis comes back: a retried alert then coalesces by its key.
 */
async function bounded<T>(ms: number, action: string, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new UpstreamError('redis', `${action}: no answer within ${ms} ms`, { retryable: true, code: 'upstream_timeout' })), ms);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export function createBullmqRunQueue(options: BullmqRunQueueOptions): RunQueue {
  const { prefix, queueName } = options;
  // Workers block on Redis and must wait out outages (BullMQ requires null retries);
  // producers answer webhooks, so they fail fast and let the sender retry.
  const connection = { url: options.connection, maxRetriesPerRequest: null };
  const queue = new Queue<JobData>(queueName, { connection: { url: options.connection, maxRetriesPerRequest: 1, enableOfflineQueue: false }, prefix });
  // Our own keys (joined triggers) sit beside BullMQ's under the same prefix.
  const redis = new Redis(options.connection, { maxRetriesPerRequest: 2, lazyConnect: false });
  const joinedKey = (runId: string) => `${prefix}:${queueName}:mlops:joined:${runId}`;
  const limit = options.commandTimeoutMs ?? 5000;
  const clock = options.clock ?? systemClock;
  let worker: Worker<JobData> | null = null;
  let closing: Promise<void> | null = null;
  queue.on('error', (err) => options.onError?.(null, err));
  redis.on('error', (err) => options.onError?.(null, err));

  return {
    async enqueue(trigger, { dedupeKey } = {}) {
      const runId = newQueuedRunId(clock.now());
      let job: Job<JobData>;
      try {
        job = await bounded(limit, `enqueueing a run on queue ${queueName}`, queue.add(
          'run',
          { trigger },
          {
            jobId: runId,
            attempts: options.attempts ?? 3,
            backoff: { type: 'exponential', delay: 1000 },
            // Hashed: group keys are long label sets with quotes and braces.
            ...(dedupeKey ? { deduplication: { id: createHash('sha256').update(dedupeKey).digest('hex').slice(0, 32) } } : {}),
            removeOnComplete: { age: 7 * DAY_S },
            removeOnFail: { age: 30 * DAY_S },
          },
        ));
      } catch (err) {
        throw redisError(`enqueueing a run on queue ${queueName}`, err);
      }
      // Deduplicated adds return the id of the run that holds the key.
      if (job.id === undefined || job.id === runId) return { runId, coalesced: false };
      const existing = job.id;
      try {
        const key = joinedKey(existing);
        await bounded(limit, `recording a trigger that joined run ${existing}`, redis.multi().rpush(key, JSON.stringify(joinedFrom(trigger, new Date(clock.now()).toISOString()))).expire(key, 30 * DAY_S).exec());
      } catch (err) {
        throw redisError(`recording a trigger that joined run ${existing}`, err);
      }
      return { runId: existing, coalesced: true };
    },

    async resume(runId) {
      const action = `queueing run ${runId} to resume`;
      try {
        await bounded(limit, action, queue.add(
          'resume',
          { resumeRunId: runId },
          {
            jobId: `${runId}-resume-${clock.now().toString(36)}`,
            attempts: options.attempts ?? 3,
            backoff: { type: 'exponential', delay: 1000 },
            deduplication: { id: createHash('sha256').update(`resume:${runId}`).digest('hex').slice(0, 32) },
            removeOnComplete: { age: 7 * DAY_S },
            removeOnFail: { age: 30 * DAY_S },
          },
        ));
      } catch (err) {
        throw redisError(action, err);
      }
    },

    process(handler: RunHandler, { concurrency }) {
      if (worker) throw new Error('process() was already called on this run queue');
      worker = new Worker<JobData>(
        queueName,
        async (job) => {
          try {
            const data = job.data;
            await ('resumeRunId' in data ? handler(data.resumeRunId, null) : handler(job.id as string, data.trigger));
          } catch (err) {
            // UnrecoverableError tells BullMQ not to spend the remaining attempts.
            if (!isRetryable(err)) throw new UnrecoverableError(describeError(err));
            throw err;
          }
        },
        {
          connection,
          prefix,
          concurrency: Math.max(1, concurrency),
          ...(options.lockDuration !== undefined ? { lockDuration: options.lockDuration } : {}),
          ...(options.stalledInterval !== undefined ? { stalledInterval: options.stalledInterval } : {}),
          ...(options.maxStalledCount !== undefined ? { maxStalledCount: options.maxStalledCount } : {}),
        },
      );
      worker.on('error', (err) => options.onError?.(null, err));
      worker.on('failed', (job, err) => options.onError?.(job?.id ?? null, err));
    },

    async joined(runId) {
      try {
        const items = await bounded(limit, `reading triggers that joined run ${runId}`, redis.lrange(joinedKey(runId), 0, -1));
        return items.map((s) => JSON.parse(s) as JoinedTrigger);
      } catch (err) {
        throw redisError(`reading triggers that joined run ${runId}`, err);
      }
    },

    async depth() {
      try {
        const counts = await bounded(limit, `counting runs on queue ${queueName}`, queue.getJobCounts('active', 'wait', 'delayed', 'prioritized', 'waiting-children'));
        return Object.values(counts).reduce((a, b) => a + b, 0);
      } catch (err) {
        throw redisError(`counting runs on queue ${queueName}`, err);
      }
    },

    close({ force = false } = {}) {
      // The first close decides; BullMQ's worker.close likewise returns its first promise.
      closing ??= (async () => {
        await worker?.close(force);
        await queue.close();
        await redis.quit().catch(() => redis.disconnect());
      })();
      return closing;
    },
  };
}
