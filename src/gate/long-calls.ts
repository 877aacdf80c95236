// Long-running calls (a training job, a canary rollout) behind the gate: started once,
// then looked at until they give their output or their time is up. The run that made
// the call need not wait in a worker: it keeps the WaitingCall and comes back to it.
import {
  isLongRunning,
  type AnyTool,
  type Backends,
  type LongRunningTool,
  type ToolContext,
} from '../../tools/index.js';
import type { Clock } from '../clock.js';
import { publicMessage } from '../public-message.js';
import { describeValidation } from '../validation.js';
import type { Logger } from '../logger.js';
import type { CallEnd } from './executions.js';
import type { ParkedCall, Principal, RunHow } from './gate.js';

/** A started long-running call: everything needed to finish it, JSON, kept with the run. */
export interface WaitingCall {
  runId: string | null;
  callId: string;
  principal: Principal;
  tool: string;
  /** What the tool's start handed back; its poll reads it. */
  handle: unknown;
  idempotencyKey: string;
  startedAt: string;
  /** Past this, the call fails as timed out. */
  deadline: string;
  /** The approval the call runs under: its recorded outcome follows the call to its end. */
  approvalId: string | null;
}

/** How a waiting call ended. */
export type CompletedCall =
  { status: 'executed'; output: unknown; summary: string } | { status: 'failed'; error: string; timedOut: boolean };

/** `unseen`: the poll failed (Redis or a registry hiccup, or work this process's backends do not know): no end, as yet. */
type Look =
  | { kind: 'running' }
  | { kind: 'unseen'; error: string }
  | { kind: 'overdue'; lastError: string | null }
  | { kind: 'done'; output: unknown; summary: string }
  | { kind: 'error'; error: string };

export interface LongCallDeps {
  tools: ReadonlyMap<string, AnyTool>;
  backends: Backends;
  clock: Clock;
  /** The gate's audit write: throws when the entry could not be made durable. */
  record(
    call: { runId: string | null; principal: Principal },
    kind: string,
    data: Record<string, unknown>,
  ): Promise<void>;
  recordApproved?(approvalId: string, outcome: CallEnd): Promise<void>;
  /** How often a wait without a completion signal is looked at again (default 1 s). */
  pollIntervalMs?: number;
  logger?: Logger;
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const wake = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', wake);
      resolve();
    };
    const timer = setTimeout(wake, ms);
    signal?.addEventListener('abort', wake, { once: true });
  });

export function createLongCalls(deps: LongCallDeps) {
  const { tools, backends, clock, record, logger } = deps;
  const pollIntervalMs = deps.pollIntervalMs ?? 1000;
  const iso = (ms: number) => new Date(ms).toISOString();
  const ctxOf = (wait: { principal: Principal; idempotencyKey: string }): ToolContext => ({
    backends,
    principal: wait.principal.id,
    idempotencyKey: wait.idempotencyKey,
  });

  function toolOf(wait: WaitingCall): { tool: LongRunningTool; handle: unknown } | { error: string } {
    const tool = tools.get(wait.tool);
    if (!tool || !isLongRunning(tool))
      return {
        error: `tool ${wait.tool} ${tool ? 'is not long-running' : 'no longer exists'}, so its call cannot be followed`,
      };
    const handle = tool.handle.safeParse(wait.handle);
    if (!handle.success)
      return {
        error: `the stored handle of this ${wait.tool} call is not one it made (${handle.error.issues.map((i) => i.message).join('; ')})`,
      };
    return { tool, handle: handle.data };
  }

  /** Reads where the call is; records nothing. */
  async function look(wait: WaitingCall): Promise<Look> {
    const found = toolOf(wait);
    if ('error' in found) return { kind: 'error', error: found.error };
    const { tool, handle } = found;
    let out: unknown;
    let unseen: string | null = null;
    try {
      out = await tool.poll(handle, ctxOf(wait));
    } catch (err) {
      // A look that fails is no end: the work may be fine. Past the deadline it is a timeout that names this.
      out = null;
      unseen = publicMessage(err);
    }
    if (out === null) {
      if (clock.now() >= Date.parse(wait.deadline)) return { kind: 'overdue', lastError: unseen };
      return unseen === null ? { kind: 'running' } : { kind: 'unseen', error: unseen };
    }
    const checked = tool.output.safeParse(out);
    if (!checked.success)
      return {
        kind: 'error',
        error: `tool ${tool.name} returned output that does not match its schema: ${describeValidation(checked.error, '(output)')}`,
      };
    return { kind: 'done', output: checked.data, summary: tool.summarize(checked.data) };
  }

  /**
   * `beforeRecord`: told the end before it is audited (the gate marks it in the execution
   * record, so an attempt that stops right after the entry is known to have been recording
   * it). `mayRepeat`: an earlier attempt stopped while recording this end; the entry says so,
   * as it may be the second of its kind.
   */
  async function complete(
    wait: WaitingCall,
    hooks: { beforeRecord?(end: CompletedCall): Promise<void>; mayRepeat?: boolean } = {},
  ): Promise<CompletedCall | null> {
    const seen = await look(wait);
    if (seen.kind === 'running') return null;
    if (seen.kind === 'unseen') {
      logger?.warn(
        { callId: wait.callId, tool: wait.tool, err: seen.error },
        'could not look at a waiting call; it is looked at again until its deadline',
      );
      return null;
    }
    const waitedMs = Math.max(0, clock.now() - Date.parse(wait.startedAt));
    const repeat = hooks.mayRepeat ? { mayRepeat: true } : {};
    let end: CompletedCall;
    if (seen.kind === 'done') {
      end = { status: 'executed', output: seen.output, summary: seen.summary };
      await hooks.beforeRecord?.(end);
      await record(wait, 'execution.finished', {
        callId: wait.callId,
        tool: wait.tool,
        summary: seen.summary,
        output: seen.output,
        waitedMs,
        ...repeat,
      });
    } else {
      const error =
        seen.kind === 'overdue'
          ? `timed out: ${wait.tool} had not finished by its deadline ${wait.deadline} (started ${wait.startedAt})${seen.lastError ? `; the last look at it failed: ${seen.lastError}` : ''}; what it started may still be going on, so check the current state before proposing it again`
          : seen.error;
      end = { status: 'failed', error, timedOut: seen.kind === 'overdue' };
      await hooks.beforeRecord?.(end);
      await record(wait, 'execution.failed', {
        callId: wait.callId,
        tool: wait.tool,
        error,
        waitedMs,
        timedOut: seen.kind === 'overdue',
        ...repeat,
      });
    }
    if (wait.approvalId && deps.recordApproved) {
      // What the approval shows is for people following it; failing to update it must not undo the end just recorded.
      await deps
        .recordApproved(
          wait.approvalId,
          end.status === 'executed'
            ? { status: 'executed', summary: end.summary, output: end.output }
            : { status: 'failed', summary: end.error },
        )
        .catch((err: unknown) =>
          logger?.warn(
            { err, approvalId: wait.approvalId },
            'could not record how an approved call ended with its approval',
          ),
        );
    }
    return end;
  }

  /** Resolves when any of the waits may have ended (a completion signal), or after `timeoutMs`. */
  async function untilDone(
    waits: readonly WaitingCall[],
    { timeoutMs, signal }: { timeoutMs: number; signal?: AbortSignal },
  ): Promise<void> {
    if (signal?.aborted) return;
    const stop = new AbortController();
    const abort = () => stop.abort();
    signal?.addEventListener('abort', abort, { once: true });
    const watchers = waits.map(async (wait) => {
      const found = toolOf(wait);
      if ('error' in found || !found.tool.whenDone) return sleep(Math.min(pollIntervalMs, timeoutMs), stop.signal);
      // A completion signal is a hint: when it cannot be had (the work is another process's), look again on the timer.
      await found.tool
        .whenDone(found.handle, ctxOf(wait), { timeoutMs, signal: stop.signal })
        .catch(() => sleep(Math.min(pollIntervalMs, timeoutMs), stop.signal));
    });
    try {
      // Never faster than every 50 ms: a signal that answers at once must not spin a loop.
      await Promise.all([
        Promise.race([...watchers, sleep(timeoutMs, stop.signal)]),
        sleep(Math.min(50, timeoutMs), signal),
      ]);
    } finally {
      stop.abort();
      signal?.removeEventListener('abort', abort);
    }
  }

  /** Starts the tool's work; the deadline counts from now. */
  async function start(
    tool: LongRunningTool,
    parked: ParkedCall,
    approvalId: string | null,
  ): Promise<{ wait: WaitingCall; timeoutMs: number }> {
    const started = await tool.start(parked.args, ctxOf(parked));
    // A handle its own schema refuses could not be read back after a restart: fail now.
    const handle = tool.handle.parse(started.handle);
    const now = clock.now();
    const wait: WaitingCall = {
      runId: parked.runId,
      callId: parked.callId,
      principal: parked.principal,
      tool: tool.name,
      handle,
      idempotencyKey: parked.idempotencyKey,
      startedAt: iso(now),
      deadline: iso(now + started.timeoutMs),
      approvalId,
    };
    return { wait, timeoutMs: started.timeoutMs };
  }

  /** For callers that cannot come back later (MCP clients): looks until the call ends. */
  async function finish(wait: WaitingCall): Promise<CompletedCall> {
    for (;;) {
      const end = await complete(wait);
      if (end) return end;
      await untilDone([wait], { timeoutMs: Math.max(0, Date.parse(wait.deadline) - clock.now()) + 10 });
    }
  }

  /**
   * Follows work its backend has acknowledged: looks at it once (work that ended at once
   * needs no waiting), else records `execution.waiting` with the handle and deadline, then,
   * with `park`, answers `waiting`, else waits here. `recovered`: the work was found under
   * the call's key after an earlier attempt stopped (the entry says so).
   */
  async function follow(
    tool: LongRunningTool,
    call: { runId: string | null; callId: string; principal: Principal },
    wait: WaitingCall,
    timeoutMs: number,
    how: { park: boolean; recovered?: boolean },
  ): Promise<CompletedCall | { status: 'waiting'; wait: WaitingCall; summary: string }> {
    // Ended here (at once, or waited for here): executeApproved records it with the approval itself.
    const here = { ...wait, approvalId: null };
    const end = await complete(here);
    if (end) return end;
    const summary = tool.describeWait(wait.handle);
    await record(call, 'execution.waiting', {
      callId: call.callId,
      tool: tool.name,
      handle: wait.handle,
      startedAt: wait.startedAt,
      deadline: wait.deadline,
      timeoutMs,
      waiting: summary,
      ...(how.recovered ? { recovered: true } : {}),
    });
    return how.park ? { status: 'waiting', wait, summary } : finish(here);
  }

  return {
    /**
     * Starts the work (after the gate recorded `execution.started`) and follows it. Only a
     * start the backend acknowledged (the work and its key durable there) is recorded as
     * `execution.waiting`: the log never says work is under way that the backend lacks.
     */
    async begin(
      tool: LongRunningTool,
      parked: ParkedCall,
      how: RunHow,
    ): Promise<CompletedCall | { status: 'waiting'; wait: WaitingCall; summary: string }> {
      const { wait, timeoutMs } = await start(tool, parked, how.approvalId);
      return follow(tool, parked, wait, timeoutMs, how);
    },
    follow,
    complete,
    /** True when `complete` would end the call now (done, failed or overdue). */
    async check(wait: WaitingCall): Promise<boolean> {
      const seen = await look(wait);
      return seen.kind !== 'running' && seen.kind !== 'unseen';
    },
    untilDone,
  };
}

export type LongCalls = ReturnType<typeof createLongCalls>;
