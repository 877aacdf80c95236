import { afterAll, describe, expect, it } from 'vitest';
import { UpstreamError } from '../../../src/errors.js';
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

describe('BullMQ run queue without Redis', () => {
  it('fails enqueue and depth with a retryable UpstreamError instead of hanging the webhook', async () => {
    // Port 1 is closed: every connection attempt is refused.
    const q = createBullmqRunQueue({ connection: 'redis://127.0.0.1:1', prefix: 'mlops-test-unreachable', queueName: 'runs', commandTimeoutMs: 300, onError: () => {} });
    try {
      const trigger = { kind: 'chat' as const, principal: { id: 'alice', roles: [] }, text: 'hi', data: null };
      const err = await q.enqueue(trigger).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(UpstreamError);
      expect(err).toMatchObject({ service: 'redis', retryable: true, code: 'upstream_timeout' });
      await expect(q.depth()).rejects.toBeInstanceOf(UpstreamError);
    } finally {
      await q.close();
    }
  });
});
