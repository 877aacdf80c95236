// Readiness of the Redis behind the BullMQ queue: PING answers, and maxmemory-policy is
// noeviction (any other policy lets Redis drop queued runs under memory pressure).
import { Redis } from 'ioredis';
import { describeError } from '../errors.js';
import { reconnectDelay } from '../redis-client.js';
import type { ReadinessCheck } from './health.js';

export function redisReadiness(url: string): { check: ReadinessCheck; close(): Promise<void> } {
  const redis = new Redis(url, { maxRetriesPerRequest: 1, lazyConnect: true, enableOfflineQueue: true, connectTimeout: 2000, retryStrategy: reconnectDelay });
  redis.on('error', () => {
    // Reported by the check; the event only keeps ioredis from printing during reconnects.
  });
  return {
    async check() {
      try {
        if ((await redis.ping()) !== 'PONG') return 'redis: PING did not answer PONG';
        const reply = (await redis.config('GET', 'maxmemory-policy')) as string[];
        const policy = reply[1];
        if (policy === undefined) return 'redis: could not read maxmemory-policy (CONFIG GET refused?); it must be noeviction';
        if (policy !== 'noeviction') return `redis: maxmemory-policy is ${policy}; it must be noeviction or queued runs can be evicted`;
        return null;
      } catch (err) {
        return `redis: ${describeError(err)}`;
      }
    },
    async close() {
      redis.disconnect();
    },
  };
}
