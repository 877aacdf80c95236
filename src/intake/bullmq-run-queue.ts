// The RunQueue on BullMQ and Redis: many intake processes and workers on many machines.
// The run id is the BullMQ job id, so one run can never be queued twice; coalescing uses
// BullMQ's own deduplication (SET NX of the key inside the add script, deleted by the
// finishing script), so every process agrees without a race between check and add.
import { createHash } from 'node:crypto';
import { Queue, UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Trigger } from '../agent/run.js';
import { systemClock, type Clock } from '../clock.js';
import { describeError, UpstreamError } from '../errors.js';
import { openFailFastRedis, reconnectDelay } from '../redis-client.js';
import { isRetryable } from './retry.js';
import {
  joinedFrom,
  newQueuedRunId,
  type CloseResult,
  type JoinedTrigger,
  type RunHandler,
  type RunQueue,
} from './run-queue.js';
import { firing } from './schedule-trigger.js';

export interface BullmqRunQueueOptions {
  /** `redis://host:port/db` */
  connection: string;
  /** Key prefix of every key this queue writes (BullMQ's and ours). */
  prefix: string;
  queueName: string;
  /** Tries per run, counting the first; retries back off exponentially from `backoffMs`. */
  attempts?: number;
  /** The first retry waits this long, each later one twice as long (default 1000 ms). */
  backoffMs?: number;
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

/**
 * A new run carries its trigger (and the hashed coalescing key it was queued under); a
 * resume names the stored run (its job id is not the run id).
 */
type JobData = { trigger: Trigger; group?: string } | { resumeRunId: string };

const DAY_S = 24 * 60 * 60;

/** Lets go of the key a run held while parked, if it still holds it. KEYS: the run's hold, the key's holder prefix. */
const RELEASE_SCRIPT = `
local group = redis.call('GET', KEYS[1])
if not group then return 0 end
local holder = KEYS[2] .. group
if redis.call('GET', holder) == ARGV[1] then redis.call('DEL', holder) end
redis.call('DEL', KEYS[1])
return 1
`;
const SCHEDULED_JOB = /^repeat:(.+):(\d+)$/;

/**
 * The run id of a job. Our own jobs are added under their run id. A job scheduler names
 * its jobs `repeat:<schedule>:<due ms>`, which is no valid run id; the id derived from it
 * is stable, so a retried or recovered firing resumes the same run.
 */
export function runIdOfJob(jobId: string): string {
  const scheduled = SCHEDULED_JOB.exec(jobId);
  if (!scheduled) return jobId;
  const due = Number(scheduled[2]);
  return `run_${due.toString(36)}_${createHash('sha256').update(jobId).digest('hex').slice(0, 8)}`;
}

/**
 * Appends a joined trigger to the run holding a deduplication key, atomically with the
 * check, so a notice never lands on a run whose key BullMQ released a moment before.
 * The key is BullMQ's while the run's job is queued or active (a key whose job no longer
 * exists, lost in an outage, counts as no run), then ours (KEYS[2]) while the run is parked.
 */
const JOIN_SCRIPT = `
local runId = redis.call('GET', KEYS[1])
if runId and redis.call('EXISTS', ARGV[1] .. runId) == 0 then runId = false end
if not runId then runId = redis.call('GET', KEYS[2]) end
if not runId then return false end
local joined = ARGV[2] .. runId
redis.call('RPUSH', joined, ARGV[3])
redis.call('EXPIRE', joined, tonumber(ARGV[4]))
return runId
`;

/**
 * An unanswered command (a half-open connection; BullMQ's first connection) would hang a
 * webhook forever; this turns the wait into a retryable error. The add may still land
 * if Redis answers later: a retried alert then coalesces by its key.
 */
async function bounded<T>(ms: number, action: string, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new UpstreamError('redis', `${action}: no answer within ${ms} ms`, {
            retryable: true,
            code: 'upstream_timeout',
          }),
        ),
      ms,
    );
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export function createBullmqRunQueue(options: BullmqRunQueueOptions): RunQueue {
  const { prefix, queueName } = options;
  // Workers block on Redis and must wait out outages (BullMQ requires null retries), and
  // come back within a second of Redis (BullMQ's own reconnect delay grows to 20 s).
  const connection = { url: options.connection, maxRetriesPerRequest: null, retryStrategy: reconnectDelay };
  // Producers answer webhooks, so they fail at once while Redis is down and the sender
  // retries. One connection carries BullMQ's adds and our own keys (joined triggers,
  // beside BullMQ's under the same prefix), so whether it is up says whether runs can be
  // enqueued; the Queue shares it and leaves closing it to us.
  const producer = openFailFastRedis(options.connection, { maxRetriesPerRequest: 1 });
  const redis = producer.redis;
  const queue = new Queue<JobData>(queueName, { connection: redis, prefix });
  const joinedPrefix = `${prefix}:${queueName}:mlops:joined:`;
  const joinedKey = (runId: string) => `${joinedPrefix}${runId}`;
  // A parked run's hold on its coalescing key: key → run, and run → key to release it.
  const heldPrefix = `${prefix}:${queueName}:mlops:held:`;
  const holdOf = (runId: string) => `${prefix}:${queueName}:mlops:holds:${runId}`;
  const dedupeId = (key: string) => createHash('sha256').update(key).digest('hex').slice(0, 32);
  const jobOptions = {
    attempts: options.attempts ?? 3,
    backoff: { type: 'exponential', delay: options.backoffMs ?? 1000 },
    removeOnComplete: { age: 7 * DAY_S },
    removeOnFail: { age: 30 * DAY_S },
  };
  const limit = options.commandTimeoutMs ?? 5000;
  const clock = options.clock ?? systemClock;
  let worker: Worker<JobData> | null = null;
  let closing: Promise<CloseResult> | null = null;
  // Runs whose handler is executing in this process, for a graceful close.
  const active = new Map<string, Promise<unknown>>();
  // By job id: aborted when the job's lock could not be renewed (another worker may take it).
  const lockLost = new Map<string, AbortController>();
  // The Queue forwards the errors of the connection it shares, one report for each.
  queue.on('error', (err) => options.onError?.(null, err));

  /** One producer command: refused at once while Redis is down, bounded while it is up. */
  async function command<T>(action: string, work: () => Promise<T>, ms = limit): Promise<T> {
    try {
      await producer.connected(action, ms);
      return await bounded(ms, action, work());
    } catch (err) {
      if (err instanceof UpstreamError) throw err;
      // A command cut off by a lost connection fails in ioredis's words; say what happened.
      throw new UpstreamError('redis', `${action} failed: ${producer.unreachable() ?? describeError(err)}`, {
        retryable: true,
        cause: err,
      });
    }
  }

  async function join(trigger: Trigger, dedupeKey: string): Promise<string | null> {
    const payload = JSON.stringify(joinedFrom(trigger, new Date(clock.now()).toISOString()));
    const group = dedupeId(dedupeKey);
    const found = await command(`recording a trigger on the run of key ${dedupeKey}`, () =>
      redis.eval(
        JOIN_SCRIPT,
        2,
        `${prefix}:${queueName}:de:${group}`,
        `${heldPrefix}${group}`,
        `${prefix}:${queueName}:`,
        joinedPrefix,
        payload,
        String(30 * DAY_S),
      ),
    );
    return typeof found === 'string' ? found : null;
  }

  return {
    async enqueue(trigger, { dedupeKey } = {}) {
      // In a storm nearly every notice joins a run: one small script instead of an add
      // and a push. When it finds none, the add below still decides atomically.
      if (dedupeKey) {
        const existing = await join(trigger, dedupeKey);
        if (existing) return { runId: existing, coalesced: true };
      }
      const runId = newQueuedRunId(clock.now());
      const job: Job<JobData> = await command(`enqueueing a run on queue ${queueName}`, () =>
        queue.add('run', dedupeKey ? { trigger, group: dedupeId(dedupeKey) } : { trigger }, {
          jobId: runId,
          ...jobOptions,
          // Hashed: group keys are long label sets with quotes and braces.
          ...(dedupeKey ? { deduplication: { id: dedupeId(dedupeKey) } } : {}),
        }),
      );
      // Deduplicated adds return the id of the run that holds the key.
      if (job.id === undefined || job.id === runId) return { runId, coalesced: false };
      const existing = job.id;
      const key = joinedKey(existing);
      await command(`recording a trigger that joined run ${existing}`, () =>
        redis
          .multi()
          .rpush(key, JSON.stringify(joinedFrom(trigger, new Date(clock.now()).toISOString())))
          .expire(key, 30 * DAY_S)
          .exec(),
      );
      return { runId: existing, coalesced: true };
    },

    async resume(runId) {
      await command(`queueing run ${runId} to resume`, () =>
        queue.add(
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
        ),
      );
    },

    process(handler: RunHandler, { concurrency, onGaveUp }) {
      if (worker) throw new Error('process() was already called on this run queue');
      worker = new Worker<JobData>(
        queueName,
        async (job) => {
          const jobId = job.id as string;
          const data = job.data;
          // A resume names its stored run; a scheduler's job carries the schedule's trigger,
          // stamped with the firing's due time; our own jobs carry the run id as job id.
          const runId = 'resumeRunId' in data ? data.resumeRunId : runIdOfJob(jobId);
          const trigger =
            'resumeRunId' in data
              ? null
              : runId === jobId
                ? data.trigger
                : firing(data.trigger, Number(SCHEDULED_JOB.exec(jobId)![2]));
          const lost = new AbortController();
          lockLost.set(jobId, lost);
          const running = handler(runId, trigger, lost.signal);
          active.set(runId, running);
          let parked: boolean;
          try {
            parked = (await running) === 'parked';
          } catch (err) {
            // UnrecoverableError tells BullMQ not to spend the remaining attempts.
            if (!isRetryable(err)) throw new UnrecoverableError(describeError(err));
            throw err;
          } finally {
            active.delete(runId);
            lockLost.delete(jobId);
          }
          // Taken while the job is still active, before BullMQ lets go of its own key.
          if (parked && 'group' in data && data.group) {
            await redis
              .multi()
              .set(`${heldPrefix}${data.group}`, runId, 'EX', 30 * DAY_S)
              .set(holdOf(runId), data.group, 'EX', 30 * DAY_S)
              .exec();
          } else if (!parked) {
            await redis.eval(RELEASE_SCRIPT, 2, holdOf(runId), heldPrefix, runId);
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
      worker.on('lockRenewalFailed', (jobIds: string[]) => {
        for (const id of jobIds) lockLost.get(id)?.abort(new Error(`the lock on job ${id} could not be renewed`));
      });
      worker.on('failed', (job, err) => {
        options.onError?.(job?.id ?? null, err);
        // finishedOn is set only when the job is failed for good (no retry left, an
        // unrecoverable error, or BullMQ's stall limit: its workers kept dying under it).
        if (!job || typeof job.finishedOn !== 'number') return;
        const runId = 'resumeRunId' in job.data ? job.data.resumeRunId : runIdOfJob(job.id as string);
        const reason = `${describeError(err)} (after ${job.attemptsMade} failed attempt(s) and ${job.stalledCounter} worker(s) lost under it)`;
        void redis
          .eval(RELEASE_SCRIPT, 2, holdOf(runId), heldPrefix, runId)
          .catch((releaseErr: unknown) => options.onError?.(runId, releaseErr))
          .finally(() => onGaveUp?.(runId, reason));
      });
    },

    join,

    async setSchedules(schedules) {
      return command(
        `setting the schedules of queue ${queueName}`,
        async () => {
          for (const s of schedules) {
            await queue.upsertJobScheduler(
              s.id,
              { pattern: s.cron, tz: s.tz },
              { name: 'run', data: { trigger: s.trigger }, opts: jobOptions },
            );
          }
          const wanted = new Set(schedules.map((s) => s.id));
          const removed: string[] = [];
          // Schedules taken out of the config must not keep firing from Redis.
          for (const existing of await queue.getJobSchedulers(0, -1)) {
            const id = existing.id ?? existing.key;
            if (wanted.has(id)) continue;
            await queue.removeJobScheduler(id);
            removed.push(id);
          }
          return { active: [...wanted], removed };
        },
        limit * 2,
      );
    },

    async joined(runId, from = 0) {
      const items = await command(`reading triggers that joined run ${runId}`, () =>
        redis.lrange(joinedKey(runId), from, -1),
      );
      return items.map((s) => JSON.parse(s) as JoinedTrigger);
    },

    async depth() {
      const [counts, schedulers] = await command(`counting runs on queue ${queueName}`, () =>
        Promise.all([
          queue.getJobCounts('active', 'wait', 'delayed', 'prioritized', 'waiting-children'),
          queue.getJobSchedulersCount(),
        ]),
      );
      // Each job scheduler keeps its next firing as a delayed job: a schedule, not a run waiting.
      const delayedRuns = Math.max(0, (counts.delayed ?? 0) - schedulers);
      return Object.entries(counts).reduce((sum, [state, n]) => sum + (state === 'delayed' ? delayedRuns : n), 0);
    },

    unavailable: producer.unreachable,

    close({ force = false, graceMs } = {}) {
      closing ??= (async () => {
        let handedBack: string[] = [];
        if (worker && force) {
          handedBack = [...active.keys()];
          await worker.close(true);
        } else if (worker && graceMs === undefined) {
          await worker.close(false);
        } else if (worker) {
          // Take no new runs, give the active ones their grace, then stop waiting.
          await worker.pause(true);
          const settled = Promise.allSettled([...active.values()]);
          await Promise.race([settled, new Promise((r) => setTimeout(r, graceMs).unref())]);
          handedBack = [...active.keys()];
          // Unforced when nothing is left, so BullMQ records the last completions first.
          await worker.close(handedBack.length > 0);
        }
        await queue.close();
        await redis.quit().catch(() => redis.disconnect());
        return { handedBack };
      })();
      return closing;
    },
  };
}
