// Both RunStore adapters through one contract: files under a temp dir, and Redis.
import { randomBytes } from 'node:crypto';
import { appendFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
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

describe('the file run store index', () => {
  const stored = (id: string, createdAt: string, status = 'succeeded') => ({
    schemaVersion: 1,
    id,
    status,
    createdAt,
    updatedAt: createdAt,
    transcript: [],
  });

  it('is built once from the run files of a store from before it, then kept by saves', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mlops-runs-'));
    try {
      for (const [id, at] of [
        ['run_old1', '2026-01-01T00:00:00.000Z'],
        ['run_old2', '2026-01-02T00:00:00.000Z'],
      ] as const) {
        await writeFile(join(dir, `${id}.json`), JSON.stringify(stored(id, at)));
      }
      const store = createFileRunStore(dir);
      expect((await store.recent({ limit: 5 })).map((r) => r.id)).toEqual(['run_old2', 'run_old1']);
      await store.save(stored('run_new', '2026-01-03T00:00:00.000Z', 'running') as never);
      expect((await store.recent({ limit: 1 })).map((r) => r.id)).toEqual(['run_new']);
      expect(await readFile(join(dir, 'index.log'), 'utf8')).toBe(
        '2026-01-01T00:00:00.000Z run_old1 succeeded new\n2026-01-02T00:00:00.000Z run_old2 succeeded new\n2026-01-03T00:00:00.000Z run_new running new\n',
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('skips a line torn by a crash and a line whose run file was never written, and starts the next line afresh', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mlops-runs-'));
    try {
      const store = createFileRunStore(dir);
      await store.save(stored('run_a', '2026-01-01T00:00:00.000Z') as never);
      // A crash after a new run's line, before its file; then a crash halfway through a line.
      await appendFile(join(dir, 'index.log'), '2026-01-02T00:00:00.000Z run_lost running new\n2026-01-03T00:0');
      const next = createFileRunStore(dir);
      await next.save(stored('run_b', '2026-01-04T00:00:00.000Z') as never);
      expect((await next.recent({ limit: 10 })).map((r) => r.id)).toEqual(['run_b', 'run_a']);
      expect((await readFile(join(dir, 'index.log'), 'utf8')).split('\n')).toContain(
        '2026-01-04T00:00:00.000Z run_b succeeded new',
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
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
