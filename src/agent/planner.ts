// The Planner port: the loop asks "what next?" and a planner (Gemini, an
// OpenAI-compatible model, or a runbook) answers with tool calls or a final answer.

/** A tool as a planner sees it: derived from the tool's zod definition. */
export interface ToolSpec {
  name: string;
  description: string;
  /** JSON Schema of the input, already reduced to what function declarations accept. */
  parameters: Record<string, unknown>;
}

/** One proposed tool call. Gemini gives none, so the loop assigns `id`. */
export interface ProposedCall {
  id: string;
  name: string;
  /** Whatever the model sent; validated by the gate, never trusted. */
  args: unknown;
}

export type TranscriptItem =
  /** Why the run started. `data` is outside content: it reaches the model delimited, as data. */
  | { kind: 'trigger'; trigger: string; text: string; data: unknown }
  /**
   * What the planner said and proposed in one turn. `mitigation`: the calls are a runbook's
   * mitigation steps, run before any LLM planning; the rest of the run may not undo them.
   */
  | { kind: 'plan'; text: string | null; calls: ProposedCall[]; mitigation?: boolean }
  /** The outcome of one call, shown to the model as data. */
  | { kind: 'result'; callId: string; name: string; outcome: CallOutcomeForPlanner }
  /** A call that waited for people: how they decided, and how the call then ended. */
  | {
      kind: 'approval';
      callId: string;
      name: string;
      approvalId: string;
      status: 'granted' | 'denied' | 'expired' | 'missing';
      resolution: string;
      outcome: CallOutcomeForPlanner;
    }
  /** A long-running call the run waited for (a training job, a canary rollout): how it ended. */
  | { kind: 'wait'; callId: string; name: string; waitedMs: number; outcome: CallOutcomeForPlanner }
  /** A note from the loop itself (budget warnings, refusals of repeated calls). */
  | { kind: 'note'; text: string }
  /** The final answer. */
  | { kind: 'answer'; text: string };

export type CallOutcomeForPlanner =
  | { status: 'executed'; output: unknown; summary: string }
  | { status: 'refused'; reason: string; ruleId: string | null }
  /** `code: not_found`: the call named a model, version, dataset or served model that does not exist. */
  | { status: 'invalid'; error: string; issues: { path: string; message: string }[]; code?: 'not_found' }
  | { status: 'pending_approval'; reason: string; approvalId: string | null }
  | { status: 'failed'; error: string }
  /** A long-running call under way; the run waits for it and a later `wait` item says how it ended. */
  | { status: 'waiting'; summary: string; handle: unknown; startedAt: string; deadline: string };

export interface PlannerInput {
  runId: string;
  systemPrompt: string;
  transcript: TranscriptItem[];
  tools: ToolSpec[];
  signal?: AbortSignal;
}

export interface TokenUsage {
  input: number;
  output: number;
}

/**
 * How a deterministic planner (a runbook) says its run ended. An LLM's answer carries none:
 * the loop reads how the run ended from the transcript, whatever the answer claims.
 */
export type PlannedEnd = 'succeeded' | 'failed' | 'refused' | 'needs_attention';

export type PlannerTurn =
  | { kind: 'calls'; text: string | null; calls: { name: string; args: unknown }[]; usage: TokenUsage }
  | { kind: 'answer'; text: string; usage: TokenUsage; ends?: PlannedEnd };

export interface Planner {
  /** e.g. `gemini:gemini-2.5-flash`, `runbook:drift-retrain` */
  readonly name: string;
  next(input: PlannerInput): Promise<PlannerTurn>;
}
