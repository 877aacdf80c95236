import { randomBytes } from 'node:crypto';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { createBullmqRunQueue, type RunQueue } from '../../../src/intake/index.js';
import { runQueueContract } from '../../contract/run-queue.contract.js';

export const REDIS_URL = 'redis://127.0.0.1:6379';

const made = new Map<RunQueue, { prefix: string; queueName: string }>();

/** Obliterates the BullMQ queue and deletes every other key under the test's prefix. */
export async function wipe(prefix: string, queueName: string): Promise<void> {
  const admin = new Queue(queueName, { connection: { url: REDIS_URL }, prefix });
  await admin.obliterate({ force: true });
  await admin.close();
  const redis = new Redis(REDIS_URL);
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length) await redis.del(...keys);
  } while (cursor !== '0');
  await redis.quit();
}

function names() {
  const id = randomBytes(6).toString('hex');
  return { prefix: `mlops-test-${id}`, queueName: `runs-${id}` };
}

runQueueContract('bullmq', {
  async make() {
    const n = names();
    const q = createBullmqRunQueue({ connection: REDIS_URL, ...n });
    made.set(q, n);
    return q;
  },
  async destroy(q) {
    const n = made.get(q)!;
    made.delete(q);
    await q.close();
    await wipe(n.prefix, n.queueName);
  },
});

describe('BullMQ run queue across processes', () => {
  const n = names();
  const queues: RunQueue[] = [];
  afterAll(async () => {
    await Promise.all(queues.map((q) => q.close()));
    await wipe(n.prefix, n.queueName);
  });

  it('lets two intake processes agree on one run per group key', async () => {
    const a = createBullmqRunQueue({ connection: REDIS_URL, ...n });
    const b = createBullmqRunQueue({ connection: REDIS_URL, ...n });
    queues.push(a, b);
    const key = '{}:{alertname="DriftHigh"}';
    const trigger = { kind: 'alert' as const, principal: { id: 'agent:alertmanager', roles: [] }, text: 'DriftHigh firing', data: { status: 'firing', groupKey: key } };
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => (i % 2 ? a : b).enqueue(trigger, { dedupeKey: key })));
    const ids = new Set(results.map((r) => r.runId));
    expect(ids.size).toBe(1);
    expect(results.filter((r) => !r.coalesced)).toHaveLength(1);
    expect(await a.joined([...ids][0]!)).toHaveLength(49);
    expect(await b.depth()).toBe(1);
  });
});
