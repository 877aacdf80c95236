// The in-process RunQueue: the embedded default. Triggers wait in memory; with a journal
// each accepted run is also on disk until it is settled, so a crash loses none of them
// (the next start queues them again under their ids).
import type { Clock } from '../clock.js';
import { systemClock } from '../clock.js';
import type { Trigger } from '../agent/run.js';
import { isRetryable } from './retry.js';
import {
  joinedFrom,
  newQueuedRunId,
  type CloseResult,
  type JoinedTrigger,
  type ProcessOptions,
  type RunHandler,
  type RunQueue,
} from './run-queue.js';
import { createLocalScheduler } from './local-scheduler.js';
import type { QueueJournal } from './queue-journal.js';
import { describeError, UpstreamError } from '../errors.js';

interface Entry {
  runId: string;
  /** Null for a resume of a stored run. */
  trigger: Trigger | null;
  dedupeKey: string | undefined;
  attempts: number;
}

export interface LocalRunQueueOptions {
  /** Tries per run, counting the first (a thrown retryable error uses one). */
  attempts?: number;
  /** The first retry waits this long, each later one twice as long (default 1000 ms). */
  backoffMs?: number;
  clock?: Clock;
  /** Told about each failed attempt; the queue never throws a handler's error at callers. */
  onError?: (runId: string | null, err: unknown) => void;
  /** Keeps accepted runs on disk until settled; the runs it has left over are queued first. */
  journal?: QueueJournal;
}

export function createLocalRunQueue(options: LocalRunQueueOptions = {}): RunQueue {
  const maxAttempts = options.attempts ?? 3;
  const backoffMs = options.backoffMs ?? 1000;
  const clock = options.clock ?? systemClock;
  const waiting: Entry[] = [];
  const active = new Map<string, Promise<void>>();
  // Runs waiting out their backoff before the next attempt.
  const retrying = new Map<string, NodeJS.Timeout>();
  // dedupeKey → runId while the run is queued, active, waiting for a retry or parked.
  const byKey = new Map<string, string>();
  // runId → the key a parked run holds.
  const held = new Map<string, string>();
  const joins = new Map<string, JoinedTrigger[]>();
  let handler: RunHandler | null = null;
  let concurrency = 1;
  let onGaveUp: ProcessOptions['onGaveUp'];
  let closed = false;
  let closing: Promise<CloseResult> | null = null;
  const journal = options.journal;
  for (const { runId, dedupeKey } of journal?.holds ?? []) {
    byKey.set(dedupeKey, runId);
    held.set(runId, dedupeKey);
  }
  for (const left of journal?.left ?? []) {
    if (left.dedupeKey) byKey.set(left.dedupeKey, left.runId);
    waiting.push({ runId: left.runId, trigger: left.trigger, dedupeKey: left.dedupeKey, attempts: 0 });
  }

  /** Durable before the caller hears of it; a disk that cannot take it is a retryable failure. */
  async function accept(entry: Entry): Promise<void> {
    try {
      await journal?.add({
        runId: entry.runId,
        trigger: entry.trigger,
        dedupeKey: entry.dedupeKey,
        queuedAt: new Date(clock.now()).toISOString(),
      });
    } catch (err) {
      if (entry.dedupeKey && byKey.get(entry.dedupeKey) === entry.runId) byKey.delete(entry.dedupeKey);
      throw new UpstreamError('queue', `the run could not be written to the queue journal: ${describeError(err)}`, {
        retryable: true,
        cause: err,
      });
    }
    waiting.push(entry);
    // Deferred so enqueue resolves before the handler starts, as with a remote queue.
    queueMicrotask(pump);
  }

  function pump(): void {
    while (handler && !closed && active.size < concurrency) {
      const entry = waiting.shift();
      if (!entry) return;
      const run = handler;
      const done = (async () => {
        entry.attempts += 1;
        try {
          const result = await run(entry.runId, entry.trigger);
          await settle(entry, result === 'parked');
        } catch (err) {
          options.onError?.(entry.runId, err);
          if (isRetryable(err) && entry.attempts < maxAttempts) {
            // Closing: no retry here, and the journal keeps the run for the next start.
            if (!closed) retryLater(entry);
          } else {
            await settle(entry, false);
            onGaveUp?.(entry.runId, `attempt ${entry.attempts} of ${maxAttempts} failed: ${describeError(err)}`);
          }
        }
      })().finally(() => {
        active.delete(entry.runId);
        pump();
      });
      active.set(entry.runId, done);
    }
  }

  // Exponential, like BullMQ's: backoff, 2×backoff, 4×backoff, ...
  function retryLater(entry: Entry): void {
    const timer = setTimeout(
      () => {
        retrying.delete(entry.runId);
        waiting.push(entry);
        pump();
      },
      backoffMs * 2 ** (entry.attempts - 1),
    );
    timer.unref();
    retrying.set(entry.runId, timer);
  }

  // Synchronous, so a check and the add that follows it cannot interleave with another enqueue.
  function joinNow(trigger: Trigger, dedupeKey: string): string | null {
    const existing = byKey.get(dedupeKey);
    if (!existing) return null;
    const list = joins.get(existing) ?? [];
    list.push(joinedFrom(trigger, new Date(clock.now()).toISOString()));
    joins.set(existing, list);
    return existing;
  }

  /** `parked`: the run is not over, so the key it was queued under stays with it. */
  async function settle(entry: Entry, parked: boolean): Promise<void> {
    const holdsKey = parked && entry.trigger !== null && entry.dedupeKey !== undefined;
    const report = (err: unknown) => options.onError?.(entry.runId, err);
    if (holdsKey) {
      held.set(entry.runId, entry.dedupeKey!);
      await journal?.hold(entry.runId, entry.dedupeKey!).catch(report);
    } else if (entry.dedupeKey && byKey.get(entry.dedupeKey) === entry.runId) byKey.delete(entry.dedupeKey);
    const heldKey = held.get(entry.runId);
    if (!parked && heldKey !== undefined) {
      if (byKey.get(heldKey) === entry.runId) byKey.delete(heldKey);
      held.delete(entry.runId);
      await journal?.release(entry.runId).catch(report);
    }
    // Left on disk if this fails: the next start finds the run settled and does nothing.
    await journal?.remove(entry.runId).catch(report);
  }

  const queue: RunQueue = {
    async enqueue(trigger, { dedupeKey } = {}) {
      if (closed) throw new Error('the run queue is closed');
      const existing = dedupeKey ? joinNow(trigger, dedupeKey) : null;
      if (existing) return { runId: existing, coalesced: true };
      const runId = newQueuedRunId(clock.now());
      // Taken before the journal write, so a trigger with the same key arriving meanwhile joins this run.
      if (dedupeKey) byKey.set(dedupeKey, runId);
      await accept({ runId, trigger, dedupeKey, attempts: 0 });
      return { runId, coalesced: false };
    },
    async resume(runId) {
      if (closed) throw new Error('the run queue is closed');
      const dedupeKey = `resume:${runId}`;
      // A run is handled once at a time: a resume of one queued or active changes nothing.
      if (byKey.has(dedupeKey) || active.has(runId) || retrying.has(runId) || waiting.some((e) => e.runId === runId))
        return;
      byKey.set(dedupeKey, runId);
      await accept({ runId, trigger: null, dedupeKey, attempts: 0 });
    },
    async join(trigger, dedupeKey) {
      return joinNow(trigger, dedupeKey);
    },
    process(fn, opts) {
      if (handler) throw new Error('process() was already called on this run queue');
      handler = fn;
      concurrency = Math.max(1, opts.concurrency);
      onGaveUp = opts.onGaveUp;
      pump();
    },
    async joined(runId, from = 0) {
      return (joins.get(runId) ?? []).slice(from);
    },
    async depth() {
      return waiting.length + active.size + retrying.size;
    },
    async setSchedules(schedules) {
      if (closed) throw new Error('the run queue is closed');
      return scheduler.set(schedules);
    },
    close({ force = false, graceMs } = {}) {
      closed = true;
      scheduler.stop();
      for (const timer of retrying.values()) clearTimeout(timer);
      retrying.clear();
      closing ??= (async () => {
        if (!force) {
          const settled = Promise.allSettled([...active.values()]);
          if (graceMs === undefined) await settled;
          else await Promise.race([settled, new Promise((r) => setTimeout(r, graceMs).unref())]);
        }
        return { handedBack: [...active.keys()] };
      })();
      return closing;
    },
  };

  const scheduler = createLocalScheduler({
    clock,
    fire: (trigger) => {
      if (closed) return;
      queue.enqueue(trigger).catch((err: unknown) => options.onError?.(null, err));
    },
  });
  return queue;
}
