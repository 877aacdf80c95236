// A run: one episode of the agent, persisted so it survives a restart.
import type { Principal } from '../gate/gate.js';
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
 * `succeeded`: what the run set out to do is done; `failed`: a step failed; `refused`: a call
 * was refused (the gate, or the loop's own guards); `needs_attention`: it cannot proceed
 * without a person (a label it needs is missing, no runbook and no LLM, a runbook's stop).
 */
export type RunStatus =
  'running' | 'waiting_approval' | 'waiting' | 'succeeded' | 'failed' | 'refused' | 'needs_attention';

/** Every status, in the order lists and `--status` choices show them. */
export const RUN_STATUSES: readonly RunStatus[] = [
  'running',
  'waiting_approval',
  'waiting',
  'succeeded',
  'failed',
  'refused',
  'needs_attention',
];

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
  /**
   * What the transcript shows was done, built from it when the run ended (never from the
   * planner's words). Optional: runs stored before it existed load without it.
   */
  summary?: RunSummary;
  /** Where the final answer claims more than the transcript shows; each is audited as `run.flagged`. */
  flags?: RunFlag[];
  /** The runbook's mitigation steps, run before any LLM planning: how far they got. */
  mitigation?: { runbook: string; status: 'done' | 'failed' | 'refused' | 'needs_attention'; text: string };
}

/** One call as the run's summary lists it. */
export interface SummaryItem {
  callId: string;
  tool: string;
  /** The tool changes nothing (a read). */
  readOnly: boolean;
  /** The call's summary, refusal reason or error. */
  detail: string;
}

/** What a run did, by the last outcome of each call in its transcript. */
export interface RunSummary {
  executed: SummaryItem[];
  /** Executed and changed nothing (a rollback with nothing to roll back). */
  noops: SummaryItem[];
  refused: SummaryItem[];
  /** Failed, named something that does not exist, or had arguments the tool refused. */
  failed: SummaryItem[];
  /** Still waiting for people or for long-running work. */
  pending: SummaryItem[];
  /** The same in sentences, for people. */
  text: string;
}

/** A claim in the final answer that the transcript does not support. */
export interface RunFlag {
  kind: 'unsupported_claim';
  /** The effect claimed: `rollback`, `retrain`, `canary` or `promotion`. */
  claim: string;
  /** The sentence of the answer that claims it. */
  sentence: string;
  reason: string;
}

export function isFinished(status: RunStatus): boolean {
  return status === 'succeeded' || status === 'failed' || status === 'refused' || status === 'needs_attention';
}

/** Parked: it holds no worker, and a sweep or an event resumes it. */
export function isParked(status: RunStatus): boolean {
  return status === 'waiting_approval' || status === 'waiting';
}
