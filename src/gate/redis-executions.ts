// Execution records in Redis, shared by every worker: one JSON string per idempotency
// key, taken with SET NX so two workers that both resume a run cannot both execute a call.
import { Redis } from 'ioredis';
import { sha256Hex } from '../audit/index.js';
import { redisCommand as call } from '../redis-command.js';
import type { ExecutionRecord, Executions } from './executions.js';
import { reconnectDelay } from '../redis-client.js';

export interface RedisExecutionsOptions {
  /** `redis://host:port/db` */
  connection: string;
  /** Prefix of every key, e.g. `mlops`. */
  prefix: string;
  /** How long a record is kept (default 30 days: longer than any run lives). */
  retainMs?: number;
}

const THIRTY_DAYS_MS = 30 * 24 * 3600 * 1000;

export function createRedisExecutions(options: RedisExecutionsOptions): Executions {
  const retainMs = options.retainMs ?? THIRTY_DAYS_MS;
  const redis = new Redis(options.connection, { maxRetriesPerRequest: 3, retryStrategy: reconnectDelay });
  redis.on('error', () => {
    // Surfaced through the failing command; this only stops ioredis printing during reconnects.
  });
  const keyOf = (key: string) => `${options.prefix}:executions:${sha256Hex(key)}`;
  const find = async (key: string): Promise<ExecutionRecord | undefined> => {
    const raw = await call(`reading the execution record of ${key}`, () => redis.get(keyOf(key)));
    return raw === null ? undefined : (JSON.parse(raw) as ExecutionRecord);
  };

  return {
    find,
    async take(record) {
      const reply = await call(`taking ${record.key} for execution`, () =>
        redis.set(keyOf(record.key), JSON.stringify(record), 'PX', retainMs, 'NX'),
      );
      if (reply === 'OK') return null;
      return (await find(record.key)) ?? null;
    },
    async finish(key, end) {
      const record = await find(key);
      // Only the taker finishes a call, so there is no writer to race; XX never revives an expired record.
      if (record)
        await call(`recording how ${key} ended`, () =>
          redis.set(keyOf(key), JSON.stringify({ ...record, end }), 'PX', retainMs, 'XX'),
        );
    },
    async close() {
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}
