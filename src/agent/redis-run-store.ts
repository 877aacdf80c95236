// The RunStore port on Redis: one JSON string per run, a set of ids per status, and a
// sorted set by creation time, so several workers on several machines share runs.
import { Redis } from 'ioredis';
import { describeError, UpstreamError, UserError } from '../errors.js';
import { RUN_STATUSES, type Run, type RunStatus } from './run.js';
import { newestFirst, upgradeRun, type RunStore } from './run-store.js';
import { redisCommand as call } from '../redis-command.js';
import { reconnectDelay } from '../redis-client.js';

export interface RedisRunStoreOptions {
  /** `redis://host:port/db` */
  connection: string;
  /** Prefix of every key, e.g. `mlops`. */
  prefix: string;
}

export interface RedisRunStore extends RunStore {
  close(): Promise<void>;
}

const RUN_ID = /^[A-Za-z0-9_-]{1,80}$/;

function checkId(id: string): string {
  if (!RUN_ID.test(id)) throw new UserError(`run id "${id}" is invalid: letters, digits, "_" and "-" only`);
  return id;
}

export function createRedisRunStore(options: RedisRunStoreOptions): RedisRunStore {
  const { prefix } = options;
  // A bounded retry count: a run store call that cannot reach Redis should fail, not hang.
  const redis = new Redis(options.connection, { maxRetriesPerRequest: 3, retryStrategy: reconnectDelay });
  redis.on('error', () => {
    // Surfaced through the failing command as an UpstreamError; the event only stops
    // ioredis from printing "Unhandled error event" during reconnects.
  });
  const runKey = (id: string) => `${prefix}:run:${id}`;
  const statusKey = (s: RunStatus) => `${prefix}:runs:status:${s}`;
  const allKey = `${prefix}:runs:by-created`;

  async function load(ids: string[]): Promise<Run[]> {
    if (ids.length === 0) return [];
    const raws = await call('reading runs', () => redis.mget(...ids.map(runKey)));
    const runs: Run[] = [];
    raws.forEach((raw, i) => {
      if (raw !== null) runs.push(upgradeRun(JSON.parse(raw), `redis ${runKey(ids[i]!)}`));
    });
    return runs;
  }

  return {
    async save(run) {
      const id = checkId(run.id);
      const m = redis.multi().set(runKey(id), JSON.stringify(run));
      // MULTI makes the status move atomic: a reader never sees a run under two statuses.
      for (const s of RUN_STATUSES) if (s !== run.status) m.srem(statusKey(s), id);
      m.sadd(statusKey(run.status), id).zadd(allKey, Date.parse(run.createdAt) || 0, id);
      const results = await call(`saving run ${id}`, () => m.exec());
      const failed = results?.find(([err]) => err);
      if (!results || failed)
        throw new UpstreamError(
          'redis',
          `saving run ${id} failed: ${describeError(failed?.[0] ?? 'transaction aborted')}`,
          { retryable: true },
        );
    },
    async get(id) {
      const raw = await call(`reading run ${id}`, () => redis.get(runKey(checkId(id))));
      return raw === null ? undefined : upgradeRun(JSON.parse(raw), `redis ${runKey(id)}`);
    },
    async list(filter = {}) {
      const ids = filter.status
        ? await call('listing runs', () => redis.smembers(statusKey(filter.status!)))
        : await call('listing runs', () => redis.zrange(allKey, '0', '-1'));
      const runs = await load(ids);
      return runs.sort((a, b) => a.createdAt.localeCompare(b.createdAt));
    },
    async recent({ limit, since, status }) {
      // The sorted set by creation time, read from its newest end, a page at a time; with a
      // status, each page is checked against the status set (SMISMEMBER) before any run is read.
      const min = since === undefined ? '-inf' : String(Date.parse(since));
      const page = Math.max(limit, 100);
      const ids: string[] = [];
      for (let offset = 0; ids.length < limit; offset += page) {
        const batch = await call('listing runs', () =>
          redis.zrevrangebyscore(allKey, '+inf', min, 'LIMIT', offset, page),
        );
        if (batch.length === 0) break;
        const member = status ? await call('listing runs', () => redis.smismember(statusKey(status), ...batch)) : null;
        for (let i = 0; i < batch.length && ids.length < limit; i++)
          if (!member || member[i] === 1) ids.push(batch[i]!);
        if (batch.length < page) break;
      }
      return (await load(ids)).sort(newestFirst);
    },
    async close() {
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}
