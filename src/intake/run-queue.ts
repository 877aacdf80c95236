// The RunQueue port: where triggers wait for a worker. Intake owns it; the local
// (in-process) and BullMQ adapters implement it and pass one contract suite.
import { randomBytes } from 'node:crypto';
import type { Trigger } from '../agent/run.js';
import type { Schedule } from './schedule-trigger.js';

export interface EnqueueOptions {
  /**
   * Triggers with the same key coalesce: while a run for the key is queued, active or
   * parked, another trigger joins that run instead of starting a new one. For
   * Alertmanager it is the `groupKey`; see `dedupeKeyOf`.
   */
  dedupeKey?: string;
}

export interface CloseOptions {
  force?: boolean;
  graceMs?: number;
}

export interface CloseResult {
  handedBack: string[];
}

export interface EnqueueResult {
  runId: string;
  /** True when the trigger joined a queued, active or parked run rather than starting one. */
  coalesced: boolean;
}

/** A trigger that joined an existing run (a repeat firing, or the `resolved` notice). */
export interface JoinedTrigger {
  at: string;
  /** `firing` / `resolved` for alerts (from `trigger.data.status`), otherwise null. */
  status: string | null;
  trigger: Trigger;
}

/**
 * Runs the run: start it (first attempt), or resume it (after a crash, or `trigger` null:
 * a stored run whose approvals were decided). A throw marks the attempt failed; the queue
 * retries unless the error is not retryable. `parked`: the run waits (for people or for
 * long-running work) and is not over, so its coalescing key stays held: triggers with
 * that key join it until an attempt ends without parking. `signal` is aborted when this
 * worker no longer holds the run (BullMQ: its lock could not be renewed, so another
 * worker may take it over); the handler should stop without writing more.
 */
export type RunHandler = (runId: string, trigger: Trigger | null, signal?: AbortSignal) => Promise<'parked' | void>;

export interface ProcessOptions {
  concurrency: number;
  /**
   * Told when the queue gives up on a run: its last attempt failed, or (BullMQ) its
   * workers died under it more often than allowed. Nothing will run it again; the
   * stored run should say so. The run's coalescing key is released.
   */
  onGaveUp?: (runId: string, reason: string) => void;
}

/** What `setSchedules` left in force and what it removed. */
export interface ScheduleSync {
  active: string[];
  removed: string[];
}

export interface RunQueue {
  /** Resolves once the trigger is durable in the adapter's store (memory for local). */
  enqueue(trigger: Trigger, options?: EnqueueOptions): Promise<EnqueueResult>;
  /**
   * Queues a stored run to be resumed by a worker: a parked run whose approvals were
   * decided, or one a shutdown cut off (the local queue forgets runs when its process
   * stops). Resumes of one run coalesce while one is queued or active.
   */
  resume(runId: string): Promise<void>;
  /**
   * Records `trigger` on the queued, active or parked run holding `dedupeKey` and returns that
   * run's id; returns null, starting nothing, when no run holds the key. For notices
   * that must never start a run of their own (an alert's `resolved`).
   */
  join(trigger: Trigger, dedupeKey: string): Promise<string | null>;
  /**
   * Makes `schedules` the complete set: each is created or updated, every other schedule
   * the queue holds is removed. Each firing enqueues its trigger (stamped with
   * `scheduledFor`) as a new run.
   */
  setSchedules(schedules: readonly Schedule[]): Promise<ScheduleSync>;
  /** Starts consuming runs; call once per queue object. */
  process(handler: RunHandler, options: ProcessOptions): void;
  /**
   * Triggers that joined `runId` after it was enqueued, oldest first, from the `from`-th
   * on (default 0): a run in a storm reads only what it has not seen yet.
   */
  joined(runId: string, from?: number): Promise<JoinedTrigger[]>;
  /** Runs waiting or active. */
  depth(): Promise<number>;
  /**
   * Null when a run can be enqueued now; else why not (its Redis is unreachable), for
   * readiness. Queues that cannot be unavailable (in memory) leave it out.
   */
  unavailable?(): string | null;
  /**
   * Stops taking runs and releases connections. Waits for active handlers to settle: as
   * long as they take by default, at most `graceMs` when given, not at all when `force`.
   * A run still active then is handed back: BullMQ gives it to another worker once its
   * lock expires; the local queue drops it, and its stored run is resumed at the next
   * start (see `resume`). Resolves with the ids of the runs handed back.
   * The first close decides; later calls return its promise.
   */
  close(options?: CloseOptions): Promise<CloseResult>;
}

/** Same shape as the agent's run ids, so a queued run keeps its id when it is stored. */
export function newQueuedRunId(now: number = Date.now()): string {
  return `run_${now.toString(36)}_${randomBytes(4).toString('hex')}`;
}

/**
 * The coalescing key of a trigger: an Alertmanager group's `groupKey`, or an explicit
 * `dedupeKey` in a generic alert's data. Chat and schedule triggers never coalesce.
 */
export function dedupeKeyOf(trigger: Trigger): string | undefined {
  if (trigger.kind !== 'alert') return undefined;
  const data = trigger.data as { groupKey?: unknown; dedupeKey?: unknown } | null | undefined;
  if (typeof data?.groupKey === 'string' && data.groupKey) return `alert:${data.groupKey}`;
  if (typeof data?.dedupeKey === 'string' && data.dedupeKey) return `alert:${data.dedupeKey}`;
  return undefined;
}

export function joinedFrom(trigger: Trigger, at: string): JoinedTrigger {
  const status = (trigger.data as { status?: unknown } | null | undefined)?.status;
  return { at, status: typeof status === 'string' ? status : null, trigger };
}
