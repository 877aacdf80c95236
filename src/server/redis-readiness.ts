// Readiness of the Redis behind the BullMQ queue: PING answers, and maxmemory-policy is
// noeviction (any other policy lets Redis drop queued runs under memory pressure).
import { describeError } from '../errors.js';
import { openFailFastRedis } from '../redis-client.js';
import type { ReadinessCheck } from './health.js';

export function redisReadiness(url: string): { check: ReadinessCheck; close(): Promise<void> } {
  // While Redis is down a check says so at once instead of waiting out a reconnect; a
  // command on a connection that went silent gives up after commandTimeout. Connected on
  // the first check.
  const client = openFailFastRedis(url, {
    lazyConnect: true,
    maxRetriesPerRequest: 1,
    connectTimeout: 2000,
    commandTimeout: 2000,
  });
  const { redis } = client;
  return {
    async check() {
      try {
        // The first check makes one connection attempt; later ones find its outcome.
        if (redis.status === 'wait') await redis.connect().catch(() => undefined);
        const down = client.unreachable();
        if (down) return `redis: ${down}`;
        if ((await redis.ping()) !== 'PONG') return 'redis: PING did not answer PONG';
        const reply = (await redis.config('GET', 'maxmemory-policy')) as string[];
        const policy = reply[1];
        if (policy === undefined)
          return 'redis: could not read maxmemory-policy (CONFIG GET refused?); it must be noeviction';
        if (policy !== 'noeviction')
          return `redis: maxmemory-policy is ${policy}; it must be noeviction or queued runs can be evicted`;
        return null;
      } catch (err) {
        // A PING cut off by the connection's loss fails in ioredis's words; say what happened.
        return `redis: ${client.unreachable() ?? describeError(err)}`;
      }
    },
    async close() {
      redis.disconnect();
    },
  };
}
