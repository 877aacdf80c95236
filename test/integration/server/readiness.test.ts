// /readyz with Redis behind the queue: the real Redis on 127.0.0.1:6379 (noeviction, as
// the test setup runs it) is ready; an unreachable one is named in a 503.
import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import type { RunStore } from '../../../src/agent/run-store.js';
import { createBullmqRunQueue, createLocalRunQueue, type RunQueue } from '../../../src/intake/index.js';
import { silentLogger } from '../../../src/logger.js';
import { createServer, redisReadiness } from '../../../src/server/index.js';
import { eventually } from '../../support/cli-process.js';
import { startPrivateRedis } from '../../support/private-redis.js';
import { uniqueNames } from '../intake/redis-helpers.js';
import { SCOPES } from '../../../src/api-tokens.js';

const TOKEN = 'readiness-token-0123456789';
const runs: RunStore = {
  save: async () => {},
  get: async () => undefined,
  list: async () => [],
  recent: async () => [],
};
const unused = async (): Promise<never> => {
  throw new Error('these tests never append to the audit log');
};

describe('/readyz', () => {
  const cleanup: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const fn of cleanup.splice(0)) await fn();
  });

  async function serverWith(
    audit: { failed: Error | null },
    redisUrl?: string,
    queue: RunQueue = createLocalRunQueue(),
  ): Promise<FastifyInstance> {
    const probe = redisUrl ? redisReadiness(redisUrl) : null;
    // Only /readyz is called here: nothing appends to the audit log.
    const app = await createServer({
      runtime: { audit: { ...audit, append: unused } },
      queue,
      runs,
      tokens: [{ token: TOKEN, principal: 'user:operator', scopes: [...SCOPES] }],
      logger: silentLogger,
      readiness: probe ? [probe.check] : [],
    });
    cleanup.push(async () => {
      await app.close();
      await queue.close();
      await probe?.close();
    });
    return app;
  }
  const get = (app: FastifyInstance) =>
    app.inject({ method: 'GET', url: '/readyz', headers: { authorization: `Bearer ${TOKEN}` } });

  it('is ready with a writable audit log and a Redis that answers with noeviction', async () => {
    const res = await get(await serverWith({ failed: null }, 'redis://127.0.0.1:6379'));
    expect(res.json()).toEqual({ status: 'ready' });
    expect(res.statusCode).toBe(200);
  });

  it('names a failed audit log and an unreachable Redis', async () => {
    const res = await get(await serverWith({ failed: new Error('fsync failed: EIO') }, 'redis://127.0.0.1:1'));
    expect(res.statusCode).toBe(503);
    const { problems } = res.json() as { problems: string[] };
    expect(problems[0]).toContain('the audit log is not writable: fsync failed: EIO');
    expect(problems[1]).toMatch(/^redis: /);
  });

  it('names Redis at once while it is down, for the queue and the probe, and is ready again once it is back', async () => {
    // A redis-server of the test's own: the shared one must never be stopped.
    const redis = await startPrivateRedis();
    const app = await serverWith(
      { failed: null },
      redis.url,
      createBullmqRunQueue({ connection: redis.url, ...uniqueNames(), onError: () => {} }),
    );
    cleanup.push(() => redis.destroy());
    await eventually(
      'the queue to connect',
      async () => ((await get(app)).statusCode === 200 ? true : undefined),
      5000,
    );

    await redis.kill();
    // Each answer comes at once; the processes see the loss as their sockets close.
    const answeredMs: number[] = [];
    const where = `Redis at 127\\.0\\.0\\.1:${redis.port} is unreachable`;
    const problems = await eventually(
      '/readyz to name Redis for the queue and the probe',
      async () => {
        const t0 = Date.now();
        const res = await get(app);
        answeredMs.push(Date.now() - t0);
        expect(res.statusCode).toBe(503);
        const { problems } = res.json() as { problems: string[] };
        return problems.length === 2 ? problems : undefined;
      },
      5000,
    );
    expect(problems).toEqual([
      expect.stringMatching(new RegExp(`^run queue: ${where}`)),
      expect.stringMatching(new RegExp(`^redis: ${where}`)),
    ]);
    expect(Math.max(...answeredMs)).toBeLessThan(1000);

    await redis.restart();
    const ready = await eventually(
      '/readyz to answer 200 again',
      async () => {
        const res = await get(app);
        return res.statusCode === 200 ? res : undefined;
      },
      5000,
    );
    expect(ready.json()).toEqual({ status: 'ready' });
  });
});
