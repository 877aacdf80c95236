// /readyz with Redis behind the queue: the real Redis on 127.0.0.1:6379 (noeviction, as
// the test setup runs it) is ready; an unreachable one is named in a 503.
import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import type { RunStore } from '../../../src/agent/run-store.js';
import { createLocalRunQueue } from '../../../src/intake/index.js';
import { silentLogger } from '../../../src/logger.js';
import { createServer, redisReadiness } from '../../../src/server/index.js';

const TOKEN = 'readiness-token-0123456789';
const runs: RunStore = { save: async () => {}, get: async () => undefined, list: async () => [] };
const unused = async (): Promise<never> => {
  throw new Error('these tests never append to the audit log');
};

describe('/readyz', () => {
  const cleanup: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const fn of cleanup.splice(0)) await fn();
  });

  async function serverWith(audit: { failed: Error | null }, redisUrl?: string): Promise<FastifyInstance> {
    const queue = createLocalRunQueue();
    const probe = redisUrl ? redisReadiness(redisUrl) : null;
    // Only /readyz is called here: nothing appends to the audit log.
    const app = await createServer({ runtime: { audit: { ...audit, append: unused } }, queue, runs, tokens: [{ token: TOKEN, principal: 'user:operator' }], logger: silentLogger, readiness: probe ? [probe.check] : [] });
    cleanup.push(async () => {
      await app.close();
      await queue.close();
      await probe?.close();
    });
    return app;
  }
  const get = (app: FastifyInstance) => app.inject({ method: 'GET', url: '/readyz', headers: { authorization: `Bearer ${TOKEN}` } });

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
});
