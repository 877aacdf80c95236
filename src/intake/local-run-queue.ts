// The in-process RunQueue: the embedded default. Triggers live in memory, so a crash
// loses queued runs (stored runs are resumed by the agent on restart, not by this queue).
import type { Clock } from '../clock.js';
import { systemClock } from '../clock.js';
import type { Trigger } from '../agent/run.js';
import { isRetryable } from './retry.js';
import { joinedFrom, newQueuedRunId, type CloseResult, type JoinedTrigger, type RunHandler, type RunQueue } from './run-queue.js';
import { createLocalScheduler } from './local-scheduler.js';

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
}

export function createLocalRunQueue(options: LocalRunQueueOptions = {}): RunQueue {
  const maxAttempts = options.attempts ?? 3;
  const backoffMs = options.backoffMs ?? 1000;
  const clock = options.clock ?? systemClock;
  const waiting: Entry[] = [];
  const active = new Map<string, Promise<void>>();
  // Runs waiting out their backoff before the next attempt.
  const retrying = new Map<string, NodeJS.Timeout>();
  // dedupeKey → runId while the run is queued, active or waiting for a retry.
  const byKey = new Map<string, string>();
  const joins = new Map<string, JoinedTrigger[]>();
  let handler: RunHandler | null = null;
  let concurrency = 1;
  let closed = false;
  let closing: Promise<CloseResult> | null = null;

  function pump(): void {
    while (handler && !closed && active.size < concurrency) {
      const entry = waiting.shift();
      if (!entry) return;
      const run = handler;
      const done = (async () => {
        entry.attempts += 1;
        try {
          await run(entry.runId, entry.trigger);
          settle(entry);
        } catch (err) {
          options.onError?.(entry.runId, err);
          if (isRetryable(err) && entry.attempts < maxAttempts && !closed) retryLater(entry);
          else settle(entry);
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
    const timer = setTimeout(() => {
      retrying.delete(entry.runId);
      waiting.push(entry);
      pump();
    }, backoffMs * 2 ** (entry.attempts - 1));
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

  function settle(entry: Entry): void {
    if (entry.dedupeKey && byKey.get(entry.dedupeKey) === entry.runId) byKey.delete(entry.dedupeKey);
  }

  const queue: RunQueue = {
    async enqueue(trigger, { dedupeKey } = {}) {
      if (closed) throw new Error('the run queue is closed');
      const existing = dedupeKey ? joinNow(trigger, dedupeKey) : null;
      if (existing) return { runId: existing, coalesced: true };
      const runId = newQueuedRunId(clock.now());
      if (dedupeKey) byKey.set(dedupeKey, runId);
      waiting.push({ runId, trigger, dedupeKey, attempts: 0 });
      // Defer so enqueue resolves before the handler starts, as with a remote queue.
      queueMicrotask(pump);
      return { runId, coalesced: false };
    },
    async resume(runId) {
      if (closed) throw new Error('the run queue is closed');
      const dedupeKey = `resume:${runId}`;
      // A run is handled once at a time: a resume of one queued or active changes nothing.
      if (byKey.has(dedupeKey) || active.has(runId) || retrying.has(runId) || waiting.some((e) => e.runId === runId)) return;
      byKey.set(dedupeKey, runId);
      waiting.push({ runId, trigger: null, dedupeKey, attempts: 0 });
      queueMicrotask(pump);
    },
    async join(trigger, dedupeKey) {
      return joinNow(trigger, dedupeKey);
    },
    process(fn, opts) {
      if (handler) throw new Error('process() was already called on this run queue');
      handler = fn;
      concurrency = Math.max(1, opts.concurrency);
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
