import { afterAll, describe, expect, it } from 'vitest';
import { UpstreamError } from '../../../src/errors.js';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { createBullmqRunQueue, runIdOfJob, scheduleFromConfig, type RunQueue } from '../../../src/intake/index.js';
import { runQueueContract } from '../../contract/run-queue.contract.js';
import { eventually } from '../../support/cli-process.js';
import { startPrivateRedis } from '../../support/private-redis.js';
import { REDIS_URL, uniqueNames, wipe } from './redis-helpers.js';

const made = new Map<RunQueue, { prefix: string; queueName: string }>();
const names = uniqueNames;

runQueueContract('bullmq', {
  async make(options) {
    const n = names();
    const q = createBullmqRunQueue({ connection: REDIS_URL, ...n, ...options });
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
    const trigger = {
      kind: 'alert' as const,
      principal: { id: 'agent:alertmanager', roles: [] },
      text: 'DriftHigh firing',
      data: { status: 'firing', groupKey: key },
    };
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => (i % 2 ? a : b).enqueue(trigger, { dedupeKey: key })),
    );
    const ids = new Set(results.map((r) => r.runId));
    expect(ids.size).toBe(1);
    expect(results.filter((r) => !r.coalesced)).toHaveLength(1);
    expect(await a.joined([...ids][0]!)).toHaveLength(49);
    expect(await b.depth()).toBe(1);
  });
});

describe('a BullMQ worker that loses its lock on a run', () => {
  const n = names();
  let q: RunQueue | undefined;
  afterAll(async () => {
    await q?.close({ force: true });
    await wipe(n.prefix, n.queueName);
  });

  it("tells the run's handler to stop: another worker may take the run over", async () => {
    q = createBullmqRunQueue({ connection: REDIS_URL, ...n, lockDuration: 1000 });
    let started!: (runId: string) => void;
    const picked = new Promise<string>((r) => (started = r));
    let handedOver!: (why: string) => void;
    const stopped = new Promise<string>((r) => (handedOver = r));
    q.process(
      async (runId, _trigger, signal) => {
        started(runId);
        await new Promise<void>((resolve) => signal!.addEventListener('abort', () => resolve(), { once: true }));
        handedOver(String(signal!.reason));
      },
      { concurrency: 1 },
    );
    const { runId } = await q.enqueue({
      kind: 'chat',
      principal: { id: 'alice', roles: [] },
      text: 'a long run',
      data: null,
    });
    expect(await picked).toBe(runId);
    // The lock is gone, as when this worker stalled past lockDuration and the lock expired.
    const redis = new Redis(REDIS_URL);
    try {
      expect(await redis.del(`${n.prefix}:${n.queueName}:${runId}:lock`)).toBe(1);
    } finally {
      await redis.quit();
    }
    expect(await stopped).toContain(`the lock on job ${runId} could not be renewed`);
  });
});

describe('a restart of a BullMQ worker', () => {
  const used: { prefix: string; queueName: string }[] = [];
  const queues: RunQueue[] = [];
  const fresh = () => {
    const n = names();
    used.push(n);
    return n;
  };
  afterAll(async () => {
    await Promise.all(queues.map((q) => q.close({ force: true })));
    for (const n of used) await wipe(n.prefix, n.queueName);
  });
  const fast = { lockDuration: 1000, stalledInterval: 300 };

  it('hands a run that outlasts the shutdown grace to the next worker, which finishes it under the same id', async () => {
    const n = fresh();
    const first = createBullmqRunQueue({ connection: REDIS_URL, ...n, ...fast });
    queues.push(first);
    let picked!: (id: string) => void;
    const pickedByFirst = new Promise<string>((r) => (picked = r));
    first.process(
      async (runId) => {
        picked(runId);
        await new Promise(() => {});
      },
      { concurrency: 1 },
    );
    const { runId } = await first.enqueue({
      kind: 'chat',
      principal: { id: 'user:alice', roles: [] },
      text: 'retrain churn',
      data: null,
    });
    expect(await pickedByFirst).toBe(runId);
    expect(await first.close({ graceMs: 200 })).toEqual({ handedBack: [runId] });

    const restarted = createBullmqRunQueue({ connection: REDIS_URL, ...n, ...fast });
    queues.push(restarted);
    const t0 = Date.now();
    const finished = new Promise<string>((resolve) => restarted.process(async (id) => resolve(id), { concurrency: 1 }));
    expect(await finished).toBe(runId);
    // Handed over once the first worker's lock (1 s) expired, not at once and not never.
    expect(Date.now() - t0).toBeLessThan(15_000);
    const admin = new Queue(n.queueName, { connection: { url: REDIS_URL }, prefix: n.prefix });
    try {
      let state = await admin.getJobState(runId);
      while (state === 'active') {
        await new Promise((r) => setTimeout(r, 20));
        state = await admin.getJobState(runId);
      }
      expect(state).toBe('completed');
    } finally {
      await admin.close();
    }
  });

  it('finishes runs queued while no worker was running, once one starts', async () => {
    const n = fresh();
    const producer = createBullmqRunQueue({ connection: REDIS_URL, ...n });
    queues.push(producer);
    const ids = await Promise.all(
      [1, 2, 3].map(
        async (i) =>
          (
            await producer.enqueue({
              kind: 'chat',
              principal: { id: 'user:alice', roles: [] },
              text: `q${i}`,
              data: null,
            })
          ).runId,
      ),
    );
    const worker = createBullmqRunQueue({ connection: REDIS_URL, ...n });
    queues.push(worker);
    const seen: string[] = [];
    await new Promise<void>((resolve) =>
      worker.process(
        async (id) => {
          seen.push(id);
          if (seen.length === 3) resolve();
        },
        { concurrency: 2 },
      ),
    );
    expect(seen.sort()).toEqual([...ids].sort());
  });
});

describe('BullMQ schedules in Redis', () => {
  const n = names();
  const queues: RunQueue[] = [];
  afterAll(async () => {
    await Promise.all(queues.map((q) => q.close()));
    await wipe(n.prefix, n.queueName);
  });
  const nightly = (name: string, cron = '0 2 * * *') =>
    scheduleFromConfig({
      name,
      cron,
      tz: 'Europe/London',
      task: `retrain ${name}`,
      runbook: 'nightly-retrain',
      labels: { model: name },
    });

  it('removes from Redis, on the next start, the schedules a config no longer has', async () => {
    const first = createBullmqRunQueue({ connection: REDIS_URL, ...n });
    queues.push(first);
    await first.setSchedules([nightly('credit-risk'), nightly('churn'), nightly('fraud')]);
    // The next start of serve, with one schedule taken out and one changed.
    const second = createBullmqRunQueue({ connection: REDIS_URL, ...n });
    queues.push(second);
    const sync = await second.setSchedules([nightly('credit-risk', '30 3 * * *'), nightly('fraud')]);
    expect(sync).toEqual({ active: ['credit-risk', 'fraud'], removed: ['churn'] });

    const admin = new Queue(n.queueName, { connection: { url: REDIS_URL }, prefix: n.prefix });
    try {
      const schedulers = await admin.getJobSchedulers(0, -1);
      expect(schedulers.map((s) => [s.key, s.pattern, s.tz]).sort()).toEqual([
        ['credit-risk', '30 3 * * *', 'Europe/London'],
        ['fraud', '0 2 * * *', 'Europe/London'],
      ]);
      // One next firing per schedule, none left over from the removed or changed ones.
      const delayed = await admin.getDelayed();
      expect(delayed.map((j) => j.repeatJobKey).sort()).toEqual(['credit-risk', 'fraud']);
      expect(await second.depth()).toBe(0);
    } finally {
      await admin.close();
    }
  });

  it('gives a scheduler job a valid run id that stays the same for the same firing', () => {
    const a = runIdOfJob('repeat:nightly-credit-risk:1767232800000');
    expect(a).toMatch(/^run_[a-z0-9]+_[0-9a-f]{8}$/);
    expect(runIdOfJob('repeat:nightly-credit-risk:1767232800000')).toBe(a);
    expect(runIdOfJob('repeat:nightly-credit-risk:1767319200000')).not.toBe(a);
    expect(runIdOfJob('run_abc_0123abcd')).toBe('run_abc_0123abcd');
  });
});

describe('BullMQ run queue without Redis', () => {
  it('fails enqueue and depth with a retryable UpstreamError instead of hanging the webhook', async () => {
    // Port 1 is closed: every connection attempt is refused.
    const q = createBullmqRunQueue({
      connection: 'redis://127.0.0.1:1',
      prefix: 'mlops-test-unreachable',
      queueName: 'runs',
      commandTimeoutMs: 300,
      onError: () => {},
    });
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

describe('BullMQ run queue across a Redis restart', () => {
  it('refuses enqueues at once while its Redis is down, naming it, and takes them again once it is back', async () => {
    // A redis-server of the test's own: the shared one must never be stopped.
    const redis = await startPrivateRedis();
    const q = createBullmqRunQueue({ connection: redis.url, ...names(), onError: () => {} });
    const trigger = { kind: 'chat' as const, principal: { id: 'alice', roles: [] }, text: 'hi', data: null };
    try {
      await q.enqueue(trigger);
      await redis.kill();
      // Both paths: the join script (a key) and the add (no key).
      for (const options of [{ dedupeKey: 'alert:drift' }, {}]) {
        const t0 = Date.now();
        const err = await q.enqueue(trigger, options).catch((e: unknown) => e);
        expect(Date.now() - t0).toBeLessThan(1000);
        expect(err).toBeInstanceOf(UpstreamError);
        expect(err).toMatchObject({
          service: 'redis',
          retryable: true,
          message: expect.stringMatching(new RegExp(`Redis at 127\\.0\\.0\\.1:${redis.port} is unreachable`)),
        });
      }
      await expect(q.depth()).rejects.toBeInstanceOf(UpstreamError);

      await redis.restart();
      const { coalesced } = await eventually(
        'an enqueue to succeed again',
        () => q.enqueue(trigger, { dedupeKey: 'alert:drift' }).catch(() => undefined),
        5000,
      );
      expect(coalesced).toBe(false);
      // Written before the outage, kept by the append-only file.
      expect(await q.depth()).toBe(2);
    } finally {
      await q.close();
      await redis.destroy();
    }
  });
});
