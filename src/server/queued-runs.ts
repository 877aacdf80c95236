// Runs this server enqueued that the worker may not have stored yet, so GET /v1/runs/:id
// can answer `queued` for them instead of 404. Bounded: the oldest are forgotten first.
import type { Trigger } from '../agent/run.js';

export interface QueuedRuns {
  add(runId: string, trigger: Trigger): void;
  get(runId: string): { trigger: Trigger; queuedAt: string } | undefined;
}

export function createQueuedRuns(max = 10_000, now: () => number = Date.now): QueuedRuns {
  const entries = new Map<string, { trigger: Trigger; queuedAt: string }>();
  return {
    add(runId, trigger) {
      entries.set(runId, { trigger, queuedAt: new Date(now()).toISOString() });
      while (entries.size > max) {
        const oldest = entries.keys().next().value;
        if (oldest === undefined) break;
        entries.delete(oldest);
      }
    },
    get: (runId) => entries.get(runId),
  };
}
