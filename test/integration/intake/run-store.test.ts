// Both RunStore adapters through one contract: files under a temp dir, and Redis.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { createRedisRunStore, type RedisRunStore } from '../../../src/agent/redis-run-store.js';
import { createFileRunStore, type RunStore } from '../../../src/agent/run-store.js';
import { UpstreamError } from '../../../src/errors.js';
import { runStoreContract } from '../../contract/run-store.contract.js';
import { REDIS_URL } from './redis-helpers.js';


const dirs = new Map<RunStore, string>();
runStoreContract('file', {
  async make() {
    const dir = await mkdtemp(join(tmpdir(), 'mlops-runs-'));
    const store = createFileRunStore(dir);
    dirs.set(store, dir);
    return store;
  },
  async destroy(store) {
    await rm(dirs.get(store)!, { recursive: true, force: true });
  },
});

const prefixes = new Map<RunStore, string>();
runStoreContract('redis', {
  async make() {
    const prefix = `mlops-test-${randomBytes(6).toString('hex')}`;
    const store = createRedisRunStore({ connection: REDIS_URL, prefix });
    prefixes.set(store, prefix);
    return store;
  },
  async destroy(store) {
    const prefix = prefixes.get(store)!;
    await (store as RedisRunStore).close();
    const redis = new Redis(REDIS_URL);
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length) await redis.del(...keys);
    await redis.quit();
  },
});

describe('Redis run store failures', () => {
  it('reports an unreachable Redis as a retryable UpstreamError', async () => {
    // Port 1 is reserved and closed: the connection is refused at once.
    const store = createRedisRunStore({ connection: 'redis://127.0.0.1:1', prefix: 'mlops-test-unreachable' });
    try {
      const err = await store.get('run_x').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(UpstreamError);
      expect(err).toMatchObject({ service: 'redis', retryable: true });
    } finally {
      await store.close();
    }
  });
});
