// The in-process RunQueue: the embedded default. Triggers live in memory, so a crash
// loses queued runs (stored runs are resumed by the agent on restart, not by this queue).
import type { Clock } from '../clock.js';
import { systemClock } from '../clock.js';
import type { Trigger } from '../agent/run.js';
import { isRetryable } from './retry.js';
import { joinedFrom, newQueuedRunId, type JoinedTrigger, type RunHandler, type RunQueue } from './run-queue.js';

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
  clock?: Clock;
  /** Told about each failed attempt; the queue never throws a handler's error at callers. */
  onError?: (runId: string, err: unknown) => void;
}

export function createLocalRunQueue(options: LocalRunQueueOptions = {}): RunQueue {
  const maxAttempts = options.attempts ?? 3;
  const clock = options.clock ?? systemClock;
  const waiting: Entry[] = [];
  const active = new Map<string, Promise<void>>();
  // dedupeKey → runId while the run is queued or active.
  const byKey = new Map<string, string>();
  const joins = new Map<string, JoinedTrigger[]>();
  let handler: RunHandler | null = null;
  let concurrency = 1;
  let closed = false;
  let closing: Promise<void> | null = null;

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
          if (isRetryable(err) && entry.attempts < maxAttempts && !closed) waiting.push(entry);
          else settle(entry);
        }
      })().finally(() => {
        active.delete(entry.runId);
        pump();
      });
      active.set(entry.runId, done);
    }
  }

  function settle(entry: Entry): void {
    if (entry.dedupeKey && byKey.get(entry.dedupeKey) === entry.runId) byKey.delete(entry.dedupeKey);
  }

  return {
    async enqueue(trigger, { dedupeKey } = {}) {
      if (closed) throw new Error('the run queue is closed');
      const existing = dedupeKey ? byKey.get(dedupeKey) : undefined;
      if (existing) {
        const list = joins.get(existing) ?? [];
        list.push(joinedFrom(trigger, new Date(clock.now()).toISOString()));
        joins.set(existing, list);
        return { runId: existing, coalesced: true };
      }
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
      if (byKey.has(dedupeKey)) return;
      byKey.set(dedupeKey, runId);
      waiting.push({ runId, trigger: null, dedupeKey, attempts: 0 });
      queueMicrotask(pump);
    },
    process(fn, opts) {
      if (handler) throw new Error('process() was already called on this run queue');
      handler = fn;
      concurrency = Math.max(1, opts.concurrency);
      pump();
    },
    async joined(runId) {
      return [...(joins.get(runId) ?? [])];
    },
    async depth() {
      return waiting.length + active.size;
    },
    close({ force = false } = {}) {
      // The first close decides: a later plain close must not wait for a forced-off run.
      closed = true;
      closing ??= force ? Promise.resolve() : Promise.allSettled([...active.values()]).then(() => undefined);
      return closing;
    },
  };
}
