// A tool is defined once: its zod schemas are the single source of its shape, and the
// JSON Schema, Gemini declarations and MCP listing are all derived from this object.
import type { z } from 'zod';
import type { Backends, Environment } from './ports.js';

export interface ToolAnnotations {
  /** Changes nothing in the world. */
  readOnly: boolean;
  /** May destroy or replace state (traffic, aliases) rather than only add. */
  destructive: boolean;
  /** Calling it twice with the same arguments has the effect of calling it once. */
  idempotent: boolean;
  /** Reaches systems outside the agent (serving, training). */
  openWorld: boolean;
}

/**
 * The figures a policy reads. Every tool fills every field, so CEL conditions never
 * meet a missing key on an ordinary call.
 */
export interface Risk {
  /** The environment the call touches, or `none`. */
  environment: Environment | 'none';
  /** Share of live traffic the call would send to a new version (0..100). */
  trafficPercent: number;
  /** Change in that share versus now (percentage points). */
  trafficChangePercent: number;
  /** True when the call sends 100% of traffic to a new version. */
  promotesToFull: boolean;
  /** Candidate AUC minus the serving version's AUC; 0 when no candidate is involved. */
  qualityDelta: number;
  /** Quality gates the candidate version failed (empty when none or not applicable). */
  failedQualityGates: string[];
  /**
   * The same failures with the measured value against its bound (`auc 0.48 < 0.82`), so a
   * refusal can say which gate and by how much; empty when no candidate is involved.
   */
  qualityGateFailures: string[];
  /** The effect can be undone by a rollback. */
  reversible: boolean;
  /** The data the call would train on, and its data-quality verdict (`NO_DATA_RISK` when no data is involved). */
  data: DataRisk;
}

/** What the stored data-quality verdict says about a dataset's current content. */
export interface DataRisk {
  /** The dataset, or '' when the call involves none. */
  dataset: string;
  /** sha256 of its content now, or ''. */
  version: string;
  /** A data-quality report is stored for exactly this content under its data contract. */
  checked: boolean;
  /** That report's verdict passed: no hard contract rule broken. False when not checked. */
  passed: boolean;
  /** Hard contract rules the content breaks (e.g. `income.range`). */
  failedChecks: string[];
  /** Soft contract rules it breaks. */
  softFailures: string[];
  /** Checked, and nothing but drift found: valid data whose distribution may have moved. */
  driftOnly: boolean;
}

export const NO_DATA_RISK: DataRisk = {
  dataset: '',
  version: '',
  checked: false,
  passed: false,
  failedChecks: [],
  softFailures: [],
  driftOnly: false,
};

export const NO_RISK: Risk = {
  environment: 'none',
  trafficPercent: 0,
  trafficChangePercent: 0,
  promotesToFull: false,
  qualityDelta: 0,
  failedQualityGates: [],
  qualityGateFailures: [],
  reversible: true,
  data: NO_DATA_RISK,
};

export interface ChangePreview {
  now: string;
  after: string;
  /** The part of the world the call would change, as it is now (JSON-safe). */
  state: unknown;
}

export interface ToolContext {
  backends: Backends;
  /** Who asked (principal id); recorded as the actor of any change. */
  principal: string;
  /** Stable per proposed call; retries of the same call carry the same key. */
  idempotencyKey: string;
  signal?: AbortSignal;
}

interface ToolBase<I extends z.ZodTypeAny, O extends z.ZodTypeAny> {
  name: string;
  /** Written for the LLM: what it does, when to use it, what it returns. */
  description: string;
  input: I;
  output: O;
  annotations: ToolAnnotations;
  /** Computes the risk figures from the input and the current state of the world. */
  assessRisk(input: z.infer<I>, ctx: ToolContext): Promise<Risk>;
  /**
   * What the call would change, for the people asked to approve it: the state now and
   * after, in words, and the current state itself. If that state changes while the
   * approval waits (the canary was rolled back), the approval is moot.
   */
  preview?(input: z.infer<I>, ctx: ToolContext): Promise<ChangePreview>;
  /** A one-line human summary of a result, for transcripts and chat. */
  summarize(output: z.infer<O>): string;
}

/**
 * What the backend says became of a call's idempotency key (`ctx.idempotencyKey`), asked
 * by the gate when an earlier attempt took the call and recorded no end (its worker died):
 * the work never started (execute it now), started (wait for it under this handle), or
 * ended (this output). Reads only; a failed look is an error, never a guess.
 */
export type ImmediateLookup<O> = { state: 'not_started' } | { state: 'ended'; output: O };
export type LongRunningLookup<H> = { state: 'not_started' } | { state: 'started'; handle: H; timeoutMs: number };

/** A tool whose call ends when `execute` resolves. */
export interface ImmediateTool<
  I extends z.ZodTypeAny = z.ZodTypeAny,
  O extends z.ZodTypeAny = z.ZodTypeAny,
> extends ToolBase<I, O> {
  execute(input: z.infer<I>, ctx: ToolContext): Promise<z.infer<O>>;
  /** Required for a tool that changes anything (not `readOnly`): see ImmediateLookup. */
  lookup?(input: z.infer<I>, ctx: ToolContext): Promise<ImmediateLookup<z.infer<O>>>;
  start?: undefined;
}

/**
 * A tool whose work goes on after the call returns (a training job, a canary rollout):
 * the gate starts it, and a run waiting for it holds no worker. The gate polls it until
 * it gives its output or its time is up; a caller that cannot wait elsewhere (an MCP
 * client) is answered when it ends, as with any tool.
 */
export interface LongRunningTool<
  I extends z.ZodTypeAny = z.ZodTypeAny,
  O extends z.ZodTypeAny = z.ZodTypeAny,
  H extends z.ZodTypeAny = z.ZodTypeAny,
> extends ToolBase<I, O> {
  execute?: undefined;
  /** What `start` hands to `poll`: JSON, kept with the run and in the audit log, checked again when read back. */
  handle: H;
  /**
   * Starts the work without waiting for it. With the call's idempotency key, a second
   * start of the same call (a worker that died after starting) must not start it twice.
   * `timeoutMs`: past it, the call fails as timed out.
   */
  start(input: z.infer<I>, ctx: ToolContext): Promise<{ handle: z.infer<H>; timeoutMs: number }>;
  /** The output once the work has ended, or null while it goes on. Reads only. */
  poll(handle: z.infer<H>, ctx: ToolContext): Promise<z.infer<O> | null>;
  /**
   * Resolves when the work may have ended (the process running it signals its end), or
   * after `timeoutMs`: the fast path; `poll` decides. Absent, waiting callers poll on a timer.
   */
  whenDone?(handle: z.infer<H>, ctx: ToolContext, wait: { timeoutMs: number; signal: AbortSignal }): Promise<void>;
  /** What is under way, in one line, while the call waits (e.g. "training job job-… running"). */
  describeWait(handle: z.infer<H>): string;
  /** Required for a tool that changes anything (not `readOnly`): see LongRunningLookup. Its end is then read with `poll`. */
  lookup?(input: z.infer<I>, ctx: ToolContext): Promise<LongRunningLookup<z.infer<H>>>;
}

export type Tool<I extends z.ZodTypeAny = z.ZodTypeAny, O extends z.ZodTypeAny = z.ZodTypeAny> =
  ImmediateTool<I, O> | LongRunningTool<I, O>;

export type AnyTool = Tool<z.ZodTypeAny, z.ZodTypeAny>;

export function isLongRunning(tool: AnyTool): tool is LongRunningTool {
  return typeof tool.start === 'function';
}

export function defineTool<I extends z.ZodTypeAny, O extends z.ZodTypeAny>(
  tool: ImmediateTool<I, O>,
): ImmediateTool<I, O>;
export function defineTool<I extends z.ZodTypeAny, O extends z.ZodTypeAny, H extends z.ZodTypeAny>(
  tool: LongRunningTool<I, O, H>,
): LongRunningTool<I, O, H>;
export function defineTool(tool: AnyTool): AnyTool {
  // A definition with both or neither is a programming error: refuse it at load, not at the first call.
  if ((typeof tool.execute === 'function') === (typeof tool.start === 'function')) {
    throw new Error(
      `tool ${tool.name} must define either execute, or start and poll (a long-running tool), not both or neither`,
    );
  }
  // Without it a call whose worker died could only be guessed at: executed twice, or lost.
  if (!tool.annotations.readOnly && typeof tool.lookup !== 'function') {
    throw new Error(
      `tool ${tool.name} changes things (readOnly: false), so it must define lookup: what became of a call's idempotency key at its backend`,
    );
  }
  return tool;
}
