// A run: one episode of the agent, persisted so it survives a restart.
import type { Principal } from '../policy/gate.js';
import type { TokenUsage, TranscriptItem } from './planner.js';

export type TriggerKind = 'chat' | 'alert' | 'schedule' | 'mcp';

export interface Trigger {
  kind: TriggerKind;
  principal: Principal;
  /** A short human description: the chat question, the alert name and summary. */
  text: string;
  /** The raw outside payload (alert labels and annotations, chat metadata). Untrusted. */
  data: unknown;
  /** For alerts: the runbook lookup key, usually the alertname label. */
  alertName?: string;
}

/**
 * `waiting_approval`: parked until people decide (and maybe for long-running calls too);
 * `waiting`: parked only until long-running calls (a training job, a canary) end.
 */
export type RunStatus = 'running' | 'waiting_approval' | 'waiting' | 'succeeded' | 'failed' | 'refused';

/** Every status, in the order lists and `--status` choices show them. */
export const RUN_STATUSES: readonly RunStatus[] = ['running', 'waiting_approval', 'waiting', 'succeeded', 'failed', 'refused'];

export const RUN_SCHEMA_VERSION = 1;

export interface Run {
  schemaVersion: typeof RUN_SCHEMA_VERSION;
  id: string;
  trigger: Trigger;
  status: RunStatus;
  /** The planner that made the latest turn, e.g. `gemini:gemini-2.5-flash` or `runbook:drift-retrain`. */
  planner: string;
  /** Set when the LLM failed and the run went on with a runbook. */
  fallback: { from: string; reason: string } | null;
  transcript: TranscriptItem[];
  steps: number;
  usage: TokenUsage;
  answer: string | null;
  error: string | null;
  createdAt: string;
  updatedAt: string;
  endedAt: string | null;
  /** When the run last parked to wait for people or long-running calls; absent in runs stored before approvals. */
  parkedAt?: string | null;
  /** Time spent parked or waiting for long-running calls, which the wall-clock budget does not count. */
  waitedMs?: number;
  /**
   * How many triggers that joined this run (repeat firings, the resolved notice) the loop
   * has taken in. Optional: runs stored before it existed load as 0, same schema version.
   */
  joinedSeen?: number;
}

export function isFinished(status: RunStatus): boolean {
  return status === 'succeeded' || status === 'failed' || status === 'refused';
}

/** Parked: it holds no worker, and a sweep or an event resumes it. */
export function isParked(status: RunStatus): boolean {
  return status === 'waiting_approval' || status === 'waiting';
}
