// The RunQueue contract: every adapter (local, BullMQ) runs these same tests.
import { afterEach, describe, expect, it } from 'vitest';
import type { Trigger } from '../../src/agent/run.js';
import { UpstreamError, UserError } from '../../src/errors.js';
import { scheduleFromConfig, type RunQueue, type Schedule } from '../../src/intake/index.js';
import { eventually } from '../support/eventually.js';

export interface RunQueueFixture {
  /** A fresh, empty queue with a name nobody else uses. */
  make(options?: { attempts?: number; backoffMs?: number }): Promise<RunQueue>;
  /** Closes the queue and deletes everything it stored. */
  destroy(queue: RunQueue): Promise<void>;
}

function alert(groupKey: string, status: 'firing' | 'resolved' = 'firing', n = 0): Trigger {
  return {
    kind: 'alert',
    principal: { id: 'agent:alertmanager', roles: [] },
    alertName: 'DriftHigh',
    text: `DriftHigh ${status} #${n}`,
    data: { status, groupKey, labels: { alertname: 'DriftHigh', instance: `i-${n}` } },
  };
}

function schedule(name: string, cron: string): Schedule {
  return scheduleFromConfig({
    name,
    cron,
    tz: 'UTC',
    task: `the ${name} task`,
    runbook: 'nightly-retrain',
    labels: { model: 'churn' },
  });
}

function chat(text: string): Trigger {
  return { kind: 'chat', principal: { id: 'alice', roles: ['ml-engineer'] }, text, data: null };
}

/** A latch the handler waits on, so runs stay active while the test enqueues. */
function latch() {
  let open!: () => void;
  const opened = new Promise<void>((r) => (open = r));
  return { open, opened };
}

/** Resolves when `count()` reaches `n`, checked whenever `bump` is called. */
function counter() {
  let n = 0;
  const waiters: { at: number; resolve: () => void }[] = [];
  return {
    bump() {
      n += 1;
      for (const w of waiters.filter((w) => n >= w.at)) w.resolve();
    },
    get value() {
      return n;
    },
    reach(at: number): Promise<void> {
      return n >= at ? Promise.resolve() : new Promise((resolve) => waiters.push({ at, resolve }));
    },
  };
}

/** Polls until `check` holds: the queue marks a run finished just after its handler returns. */
function until(check: () => Promise<boolean>): Promise<true> {
  return eventually('the queue to settle', async () => ((await check()) ? true : undefined));
}

export function runQueueContract(name: string, fixture: RunQueueFixture): void {
  describe(`RunQueue contract: ${name}`, () => {
    let queue: RunQueue | null = null;
    const open = async (options?: { attempts?: number; backoffMs?: number }) => (queue = await fixture.make(options));
    afterEach(async () => {
      if (queue) await fixture.destroy(queue);
      queue = null;
    });

    it('hands each enqueued run to the handler once, with its run id and trigger', async () => {
      const q = await open();
      const seen: [string, string][] = [];
      const done = counter();
      q.process(
        async (runId, trigger) => {
          seen.push([runId, trigger?.text ?? '(resume)']);
          done.bump();
        },
        { concurrency: 2 },
      );
      const a = await q.enqueue(chat('why is fraud-v3 slow?'));
      const b = await q.enqueue(chat('retrain churn'));
      await done.reach(2);
      expect(a.coalesced).toBe(false);
      expect(b.coalesced).toBe(false);
      expect(a.runId).not.toBe(b.runId);
      expect(a.runId).toMatch(/^run_[a-z0-9]+_[0-9a-f]{8}$/);
      expect(seen.sort()).toEqual(
        [
          [a.runId, 'why is fraud-v3 slow?'],
          [b.runId, 'retrain churn'],
        ].sort(),
      );
      await until(async () => (await q.depth()) === 0);
    });

    it('turns 1,000 firing alerts in 10 groups into 10 runs, recording every joined alert', async () => {
      const q = await open();
      const gate = latch();
      const started = counter();
      const finished = counter();
      const handled: string[] = [];
      q.process(
        async (runId) => {
          handled.push(runId);
          started.bump();
          await gate.opened;
          finished.bump();
        },
        { concurrency: 4 },
      );
      const results = [];
      for (let batch = 0; batch < 10; batch++) {
        results.push(
          ...(await Promise.all(
            Array.from({ length: 100 }, (_, i) =>
              q.enqueue(alert(`{}:{group="g${(batch * 100 + i) % 10}"}`, 'firing', batch * 100 + i), {
                dedupeKey: `{}:{group="g${(batch * 100 + i) % 10}"}`,
              }),
            ),
          )),
        );
      }
      const runIds = new Set(results.map((r) => r.runId));
      expect(runIds.size).toBe(10);
      expect(results.filter((r) => !r.coalesced)).toHaveLength(10);
      expect(await q.depth()).toBe(10);
      gate.open();
      await finished.reach(10);
      expect(new Set(handled)).toEqual(runIds);
      expect(handled).toHaveLength(10);
      let joinedTotal = 0;
      for (const id of runIds) {
        const joined = await q.joined(id);
        expect(joined).toHaveLength(99);
        expect(joined.every((j) => j.status === 'firing' && j.trigger.kind === 'alert')).toBe(true);
        // A run reads only what it has not seen yet.
        expect(await q.joined(id, 90)).toEqual(joined.slice(90));
        joinedTotal += joined.length;
      }
      expect(joinedTotal).toBe(990);
      await until(async () => (await q.depth()) === 0);
    });

    it('records a resolved notification on the active run of its group', async () => {
      const q = await open();
      const gate = latch();
      const started = counter();
      q.process(
        async () => {
          started.bump();
          await gate.opened;
        },
        { concurrency: 1 },
      );
      const key = '{}:{alertname="DriftHigh"}';
      const first = await q.enqueue(alert(key), { dedupeKey: key });
      await started.reach(1);
      const resolved = await q.enqueue(alert(key, 'resolved', 1), { dedupeKey: key });
      expect(resolved).toEqual({ runId: first.runId, coalesced: true });
      const joined = await q.joined(first.runId);
      expect(joined.map((j) => [j.status, j.trigger.text])).toEqual([['resolved', 'DriftHigh resolved #1']]);
      gate.open();
    });

    it('starts a new run for a key once the previous run of that key has finished', async () => {
      const q = await open();
      const done = counter();
      q.process(async () => done.bump(), { concurrency: 1 });
      const first = await q.enqueue(alert('k'), { dedupeKey: 'k' });
      await done.reach(1);
      // The key is released by the same step that marks the run finished; wait for it.
      const second = await eventually('the key to be released', async () => {
        const attempt = await q.enqueue(alert('k', 'firing', 2), { dedupeKey: 'k' });
        return attempt.coalesced ? undefined : attempt;
      });
      expect(second.runId).not.toBe(first.runId);
      await done.reach(2);
    });

    it("keeps a parked run's key: triggers join it until an attempt ends without parking", async () => {
      const q = await open();
      let parks = true;
      const attempts: [string, string | null][] = [];
      const done = counter();
      q.process(
        async (runId, trigger) => {
          attempts.push([runId, trigger?.text ?? null]);
          done.bump();
          return parks ? 'parked' : undefined;
        },
        { concurrency: 1 },
      );
      const first = await q.enqueue(alert('g'), { dedupeKey: 'g' });
      await done.reach(1);
      await until(async () => (await q.depth()) === 0);
      // Parked (waiting for an approval): a repeat and the resolved notice join it.
      expect(await q.enqueue(alert('g', 'firing', 2), { dedupeKey: 'g' })).toEqual({
        runId: first.runId,
        coalesced: true,
      });
      expect(await q.join(alert('g', 'resolved', 3), 'g')).toBe(first.runId);
      expect((await q.joined(first.runId)).map((j) => j.status)).toEqual(['firing', 'resolved']);
      // Resumed and parked again: still its key.
      await q.resume(first.runId);
      await done.reach(2);
      await until(async () => (await q.depth()) === 0);
      expect(await q.enqueue(alert('g', 'firing', 4), { dedupeKey: 'g' })).toEqual({
        runId: first.runId,
        coalesced: true,
      });
      // Resumed and over: the key is free, and the next firing starts a run of its own.
      parks = false;
      await q.resume(first.runId);
      await done.reach(3);
      await until(async () => (await q.depth()) === 0);
      const next = await q.enqueue(alert('g', 'firing', 5), { dedupeKey: 'g' });
      expect(next.coalesced).toBe(false);
      expect(next.runId).not.toBe(first.runId);
      await done.reach(4);
      expect(attempts.map(([id, text]) => [id === first.runId, text])).toEqual([
        [true, 'DriftHigh firing #0'],
        [true, null],
        [true, null],
        [false, 'DriftHigh firing #5'],
      ]);
    });

    it('never coalesces triggers without a dedupe key', async () => {
      const q = await open();
      const results = await Promise.all([q.enqueue(chat('same')), q.enqueue(chat('same')), q.enqueue(alert('k'))]);
      expect(new Set(results.map((r) => r.runId)).size).toBe(3);
      expect(results.every((r) => !r.coalesced)).toBe(true);
      expect(await q.depth()).toBe(3);
    });

    it('retries a run whose handler failed with a retryable error, under the same run id', async () => {
      const q = await open({ backoffMs: 50 });
      const calls: string[] = [];
      const done = counter();
      q.process(
        async (runId) => {
          calls.push(runId);
          if (calls.length === 1) throw new UpstreamError('gemini', '503', { retryable: true });
          done.bump();
        },
        { concurrency: 1 },
      );
      const { runId } = await q.enqueue(chat('retry me'));
      await done.reach(1);
      expect(calls).toEqual([runId, runId]);
    });

    it('does not retry a run whose handler failed with a non-retryable error', async () => {
      const q = await open();
      const calls: string[] = [];
      const after = counter();
      q.process(
        async (runId, trigger) => {
          calls.push(runId);
          if (trigger?.text === 'bad') throw new UserError('bad input');
          after.bump();
        },
        { concurrency: 1 },
      );
      const bad = await q.enqueue(chat('bad'));
      // With concurrency 1 the second run starts only after the first has settled.
      const good = await q.enqueue(chat('good'));
      await after.reach(1);
      expect(calls).toEqual([bad.runId, good.runId]);
    });

    it('gives up on a run once its last attempt failed, saying why, and frees its key', async () => {
      const q = await open({ attempts: 2, backoffMs: 20 });
      const gaveUp: [string, string][] = [];
      const told = counter();
      let calls = 0;
      q.process(
        async (_runId, trigger) => {
          calls += 1;
          if (trigger?.text?.includes('#0'))
            throw new UpstreamError('redis', 'the run store is unreachable', { retryable: true });
        },
        {
          concurrency: 1,
          onGaveUp: (runId, reason) => {
            gaveUp.push([runId, reason]);
            told.bump();
          },
        },
      );
      const first = await q.enqueue(alert('k'), { dedupeKey: 'k' });
      await told.reach(1);
      expect(calls).toBe(2);
      expect(gaveUp).toEqual([[first.runId, expect.stringContaining('the run store is unreachable')]]);
      await until(async () => (await q.depth()) === 0);
      const next = await q.enqueue(alert('k', 'firing', 1), { dedupeKey: 'k' });
      expect(next).toMatchObject({ coalesced: false });
      // A run that ends well is not given up on.
      await until(async () => (await q.depth()) === 0);
      expect(gaveUp).toHaveLength(1);
    });

    it('hands a resume to the handler with the stored run id and no trigger, and coalesces resumes of one run', async () => {
      const q = await open();
      const gate = latch();
      const seen: [string, string | null][] = [];
      const done = counter();
      q.process(
        async (runId, trigger) => {
          seen.push([runId, trigger?.text ?? null]);
          if (runId === 'run_parked_a') await gate.opened;
          done.bump();
        },
        { concurrency: 2 },
      );
      await q.resume('run_parked_a');
      // While the first resume is queued or active, more resumes of the same run join it.
      await q.resume('run_parked_a');
      await q.resume('run_parked_b');
      await done.reach(1);
      gate.open();
      await done.reach(2);
      await until(async () => (await q.depth()) === 0);
      expect(seen.sort()).toEqual([
        ['run_parked_a', null],
        ['run_parked_b', null],
      ]);
      // Once settled, a run can be resumed again (it may park more than once).
      await q.resume('run_parked_a');
      await done.reach(3);
      expect(seen.filter(([id]) => id === 'run_parked_a')).toHaveLength(2);
    });

    it('records a resolved notice on the run of its key with join, and starts nothing when no run holds the key', async () => {
      const q = await open();
      const gate = latch();
      const started = counter();
      const handled: string[] = [];
      q.process(
        async (runId) => {
          handled.push(runId);
          started.bump();
          await gate.opened;
        },
        { concurrency: 1 },
      );
      const key = '{}:{alertname="DriftHigh",model="churn"}';
      expect(await q.join(alert(key, 'resolved', 0), key)).toBeNull();
      expect(await q.depth()).toBe(0);

      const firing = await q.enqueue(alert(key, 'firing', 1), { dedupeKey: key });
      await started.reach(1);
      expect(await q.join(alert(key, 'resolved', 2), key)).toBe(firing.runId);
      expect((await q.joined(firing.runId)).map((j) => [j.status, j.trigger.text])).toEqual([
        ['resolved', 'DriftHigh resolved #2'],
      ]);
      gate.open();
      await until(async () => (await q.depth()) === 0);
      // Once the run has finished its key is free again: a late resolved notice starts nothing.
      await until(async () => (await q.join(alert(key, 'resolved', 3), key)) === null);
      expect(handled).toEqual([firing.runId]);
      expect(await q.depth()).toBe(0);
    });

    it('backs off exponentially between the attempts of a failing run', async () => {
      const q = await open({ attempts: 3, backoffMs: 200 });
      const times: number[] = [];
      const done = counter();
      q.process(
        async () => {
          times.push(Date.now());
          if (times.length < 3) throw new UpstreamError('gemini', '503', { retryable: true });
          done.bump();
        },
        { concurrency: 1 },
      );
      await q.enqueue(chat('flaky upstream'));
      await done.reach(1);
      expect(times).toHaveLength(3);
      const [first, second] = [times[1]! - times[0]!, times[2]! - times[1]!];
      // 200 ms, then 400 ms; timers never fire early, a loaded machine makes them late.
      expect(first).toBeGreaterThanOrEqual(190);
      expect(second).toBeGreaterThanOrEqual(390);
      expect(second).toBeGreaterThan(first);
    });

    it('gives up on a run after its attempts, retryable or not', async () => {
      const q = await open({ attempts: 2, backoffMs: 10 });
      const calls: string[] = [];
      q.process(
        async (runId) => {
          calls.push(runId);
          throw new UpstreamError('gemini', '503', { retryable: true });
        },
        { concurrency: 1 },
      );
      const { runId } = await q.enqueue(chat('always down'));
      await until(async () => calls.length >= 2 && (await q.depth()) === 0);
      await new Promise((r) => setTimeout(r, 100));
      expect(calls).toEqual([runId, runId]);
    });

    it('starts a run with trigger schedule at each cron time, once per time, as the scheduler', async () => {
      const q = await open();
      const seen: { runId: string; kind: string; principal: string; scheduledFor: string }[] = [];
      const fired = counter();
      q.process(
        async (runId, trigger) => {
          if (!trigger) throw new Error(`a schedule's firing came without its trigger (run ${runId})`);
          seen.push({
            runId,
            kind: trigger.kind,
            principal: trigger.principal.id,
            scheduledFor: (trigger.data as { scheduledFor: string }).scheduledFor,
          });
          fired.bump();
        },
        { concurrency: 2 },
      );
      const everySecond = schedule('every-second', '* * * * * *');
      expect(await q.setSchedules([everySecond])).toEqual({ active: ['every-second'], removed: [] });
      // A restart sets the same schedules again: no second scheduler, no double firing.
      expect(await q.setSchedules([everySecond])).toEqual({ active: ['every-second'], removed: [] });
      await fired.reach(2);
      expect(seen.every((s) => s.kind === 'schedule' && s.principal === 'agent:scheduler')).toBe(true);
      expect(seen.every((s) => /^run_[a-z0-9]+_[0-9a-f]{8}$/.test(s.runId))).toBe(true);
      expect(seen.every((s) => s.scheduledFor.endsWith('.000Z'))).toBe(true);
      expect(new Set(seen.map((s) => s.scheduledFor)).size).toBe(seen.length);
      expect(new Set(seen.map((s) => s.runId)).size).toBe(seen.length);
    });

    it('removes the schedules not in the new set, which then fire no more', async () => {
      const q = await open();
      const fired = counter();
      const names: string[] = [];
      q.process(
        async (_runId, trigger) => {
          names.push((trigger?.data as { schedule: string }).schedule);
          fired.bump();
        },
        { concurrency: 2 },
      );
      await q.setSchedules([schedule('yearly', '0 0 1 1 *'), schedule('every-second', '* * * * * *')]);
      // A schedule waiting for its time is not a run waiting.
      expect(await q.depth()).toBeLessThanOrEqual(1);
      await fired.reach(1);
      expect(await q.setSchedules([schedule('yearly', '0 0 1 1 *')])).toEqual({
        active: ['yearly'],
        removed: ['every-second'],
      });
      await until(async () => (await q.depth()) === 0);
      const after = fired.value;
      await new Promise((r) => setTimeout(r, 1500));
      expect(fired.value).toBe(after);
      expect(new Set(names)).toEqual(new Set(['every-second']));
    });

    it('on a close with a grace period, lets an active run finish within it and hands back none', async () => {
      const q = await open();
      const started = counter();
      let finished = false;
      q.process(
        async () => {
          started.bump();
          await new Promise((r) => setTimeout(r, 300));
          finished = true;
        },
        { concurrency: 1 },
      );
      await q.enqueue(chat('a short run'));
      await started.reach(1);
      expect(await q.close({ graceMs: 10_000 })).toEqual({ handedBack: [] });
      expect(finished).toBe(true);
    });

    it('on a close with a grace period, hands back a run that outlasts it, after waiting the grace out', async () => {
      const q = await open();
      const started = counter();
      const handled: string[] = [];
      q.process(
        async (runId) => {
          handled.push(runId);
          started.bump();
          await new Promise(() => {});
        },
        { concurrency: 2 },
      );
      const { runId } = await q.enqueue(chat('a long run'));
      await started.reach(1);
      const t0 = Date.now();
      const closing = q.close({ graceMs: 300 });
      expect(await closing).toEqual({ handedBack: [runId] });
      expect(Date.now() - t0).toBeGreaterThanOrEqual(290);
      expect(handled).toEqual([runId]);
    });

    it('closes at once when forced, even while a handler is still running', async () => {
      const q = await open();
      const started = counter();
      q.process(
        async () => {
          started.bump();
          await new Promise(() => {});
        },
        { concurrency: 1 },
      );
      await q.enqueue(chat('a long run'));
      await started.reach(1);
      await q.close({ force: true });
      await expect(q.enqueue(chat('after close'))).rejects.toThrow();
    });
  });
}
