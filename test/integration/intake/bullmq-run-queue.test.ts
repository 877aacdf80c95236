import { afterAll, describe, expect, it } from 'vitest';
import { createBullmqRunQueue, type RunQueue } from '../../../src/intake/index.js';
import { runQueueContract } from '../../contract/run-queue.contract.js';
import { REDIS_URL, uniqueNames, wipe } from './redis-helpers.js';

const made = new Map<RunQueue, { prefix: string; queueName: string }>();
const names = uniqueNames;

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
