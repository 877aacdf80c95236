// A call an earlier attempt took for execution and recorded no end for: its worker died
// between taking the call's idempotency key and keeping how it ended. Nothing here guesses:
// the tool's backend is asked what became of the key. Ended: that end is recorded. Started:
// the call is followed as a waiting call. Never started: the policy is asked again with
// fresh risk figures (an approval already consumed stands for the rule that asked for it)
// and the call is executed now, once, under the same key, so the backend would dedupe even
// a second taker.
import { isLongRunning, type AnyTool, type Backends, type LongRunningTool, type Risk } from '../../tools/index.js';
import type { Clock } from '../clock.js';
import { describeError, UpstreamError } from '../errors.js';
import type { CallEnd, ExecutionRecord, Executions } from './executions.js';
import type { GateDecision, GateOutcome, ParkedCall, Principal, RunHow } from './gate.js';
import type { CompletedCall, LongCalls, WaitingCall } from './long-calls.js';

export interface TakenCallDeps {
  backends: Backends;
  clock: Clock;
  executions: Executions;
  long: LongCalls;
  record(
    call: { runId: string | null; principal: Principal },
    kind: string,
    data: Record<string, unknown>,
  ): Promise<void>;
  /** Risk from the world and the policy's verdict on it (the gate's). */
  judge(
    tool: AnyTool,
    args: Record<string, unknown>,
    principal: Principal,
    idempotencyKey: string,
  ): Promise<{ risk: Risk | null; decision: GateDecision; shadow: GateDecision | null }>;
  /** Executes the call (the gate's): its outcome, with the audit entries of its end. */
  run(tool: AnyTool, parked: ParkedCall, how: RunHow): Promise<GateOutcome>;
  warn(err: unknown, key: string): void;
}

/** What is kept with an approval, and with the call's execution record, about how it ended. */
export function endOf(outcome: GateOutcome): CallEnd {
  switch (outcome.status) {
    case 'executed':
      return { status: 'executed', summary: outcome.summary, output: outcome.output };
    case 'failed':
    case 'invalid':
      return { status: outcome.status, summary: outcome.error };
    case 'refused':
      return { status: 'refused', summary: outcome.decision.reason };
    case 'pending_approval':
      return { status: 'refused', summary: outcome.decision.reason };
    case 'waiting':
      return {
        status: 'started',
        summary: outcome.summary,
        output: { handle: outcome.wait.handle, startedAt: outcome.wait.startedAt, deadline: outcome.wait.deadline },
      };
  }
}

/** How a waiting call ended, as its execution record keeps it. */
export function endOfCompleted(end: CompletedCall): CallEnd {
  return end.status === 'executed'
    ? { status: 'executed', summary: end.summary, output: end.output }
    : { status: 'failed', summary: end.error };
}

/** The answer of builds without a backend to ask (a tool with no `lookup`): the end is unknown, and nothing runs again. */
export function unknownEnd(earlier: ExecutionRecord): GateOutcome {
  const error = `an earlier attempt took this ${earlier.tool} call for execution at ${earlier.takenAt} and has recorded no end (it is still under way elsewhere, or its worker stopped); it was not executed again: check the current state before proposing it again`;
  return { status: 'failed', decision: earlier.decision, risk: earlier.risk, error };
}

export function createTakenCalls(deps: TakenCallDeps) {
  const { backends, clock, executions, long, record } = deps;
  const iso = (ms: number) => new Date(ms).toISOString();

  /** Keeps how the call ended for the next attempt; failing to must not undo what was done and audited. */
  async function keep(key: string, outcome: GateOutcome): Promise<GateOutcome> {
    await executions.finish(key, endOf(outcome)).catch((err: unknown) => deps.warn(err, key));
    return outcome;
  }

  /** The backend had it under way: follow it as a waiting call from when it was taken. */
  async function follow(
    tool: LongRunningTool,
    earlier: ExecutionRecord,
    handle: unknown,
    timeoutMs: number,
    how: { park: boolean },
  ): Promise<GateOutcome> {
    const wait: WaitingCall = {
      runId: earlier.runId,
      callId: earlier.callId,
      principal: earlier.principal,
      tool: tool.name,
      handle: tool.handle.parse(handle),
      idempotencyKey: earlier.key,
      startedAt: earlier.takenAt,
      deadline: iso(Date.parse(earlier.takenAt) + timeoutMs),
      approvalId: earlier.approvalId,
    };
    const recovery = `An earlier attempt took this call at ${earlier.takenAt} and stopped before it recorded an end; ${tool.name}'s backend had it under way under its key (${tool.describeWait(wait.handle)}), so that work is followed: nothing was started twice.`;
    const r = await long.follow(tool, earlier, wait, timeoutMs, { park: how.park, recovered: true });
    const { decision, risk } = earlier;
    const outcome: GateOutcome =
      r.status === 'failed' ? { status: 'failed', decision, risk, error: r.error } : { ...r, decision, risk };
    return { ...(await keep(earlier.key, outcome)), recovery };
  }

  /** Never started: ask the policy again, then execute under the same key. */
  async function executeNow(
    tool: AnyTool,
    earlier: ExecutionRecord,
    args: Record<string, unknown>,
    how: { park: boolean; approvedRuleId?: string | null },
  ): Promise<GateOutcome> {
    const { risk, decision, shadow } = await deps.judge(tool, args, earlier.principal, earlier.key);
    // An approval consumed for this call answers the rule that asked for it; any other verdict now wins.
    const approvedRule =
      how.approvedRuleId !== undefined ? how.approvedRuleId : earlier.approvalId ? earlier.decision.ruleId : undefined;
    const honoured =
      risk !== null &&
      (decision.effect === 'allow' ||
        (decision.effect === 'require_approval' && approvedRule !== undefined && decision.ruleId === approvedRule));
    const call = { runId: earlier.runId, principal: earlier.principal };
    await record(call, 'policy.decision', {
      callId: earlier.callId,
      tool: tool.name,
      args,
      risk,
      decision,
      shadow,
      resumed: true,
      approvalId: earlier.approvalId,
      ...(earlier.approvalId ? { honoured } : {}),
    });
    if (!honoured) {
      const why =
        decision.effect === 'require_approval'
          ? `the policy now asks for approval under rule ${decision.ruleId} (${decision.reason}); propose the call again`
          : `the policy now refuses it (rule ${decision.ruleId ?? '(none)'}: ${decision.reason})`;
      const refused: GateOutcome = {
        status: 'refused',
        decision: { ...decision, effect: 'deny', reason: `not executed after a restart: ${why}` },
        risk,
      };
      return {
        ...(await keep(earlier.key, refused)),
        recovery: `An earlier attempt took this call at ${earlier.takenAt} and stopped before its backend started it; asked again, ${why}. Nothing was executed.`,
      };
    }
    const parked: ParkedCall = {
      runId: earlier.runId,
      callId: earlier.callId,
      principal: earlier.principal,
      tool: tool.name,
      args,
      risk: risk!,
      decision,
      idempotencyKey: earlier.key,
    };
    await record(call, 'execution.started', {
      callId: earlier.callId,
      tool: tool.name,
      idempotencyKey: earlier.key,
      resumed: true,
    });
    const outcome = await deps.run(tool, parked, { park: how.park, approvalId: earlier.approvalId });
    const recovery = `An earlier attempt took this call at ${earlier.takenAt} and stopped before ${tool.name}'s backend started it (nothing under its key), so it was executed now, once, after the policy allowed it again (rule ${decision.ruleId ?? '(none)'}).`;
    return { ...(await keep(earlier.key, outcome)), recovery };
  }

  return {
    /**
     * Finishes a call `earlier` took with no recorded end, asking the backend by key.
     * Throws a retryable UpstreamError when the backend cannot be asked: no answer is
     * better than a guess, and the run is tried again.
     */
    async finish(
      tool: AnyTool,
      earlier: ExecutionRecord,
      args: Record<string, unknown>,
      how: { park: boolean; approvedRuleId?: string | null },
    ): Promise<GateOutcome> {
      if (!tool.lookup) return unknownEnd(earlier);
      const ctx = { backends, principal: earlier.principal.id, idempotencyKey: earlier.key };
      let found: Awaited<ReturnType<NonNullable<AnyTool['lookup']>>>;
      try {
        found = await tool.lookup(args, ctx);
      } catch (err) {
        throw new UpstreamError(
          tool.name,
          `could not ask ${tool.name}'s backend what became of idempotency key ${earlier.key} (taken ${earlier.takenAt}, no end recorded): ${describeError(err)}; nothing was executed again, and the run will be tried again`,
          { retryable: true, cause: err },
        );
      }
      await record({ runId: earlier.runId, principal: earlier.principal }, 'execution.reconciled', {
        callId: earlier.callId,
        tool: tool.name,
        idempotencyKey: earlier.key,
        takenAt: earlier.takenAt,
        found: found.state,
        at: iso(clock.now()),
      });
      if (found.state === 'not_started') return executeNow(tool, earlier, args, how);
      if (found.state === 'started' && isLongRunning(tool))
        return follow(tool, earlier, found.handle, found.timeoutMs, how);
      if (found.state === 'ended' && !isLongRunning(tool)) {
        const checked = tool.output.safeParse(found.output);
        if (!checked.success)
          throw new Error(
            `${tool.name}'s backend answered key ${earlier.key} with output that does not match the tool's schema`,
          );
        const summary = tool.summarize(checked.data);
        await record({ runId: earlier.runId, principal: earlier.principal }, 'execution.finished', {
          callId: earlier.callId,
          tool: tool.name,
          summary,
          output: checked.data,
          recovered: true,
        });
        const outcome: GateOutcome = {
          status: 'executed',
          decision: earlier.decision,
          risk: earlier.risk,
          output: checked.data,
          summary,
        };
        return {
          ...(await keep(earlier.key, outcome)),
          recovery: `An earlier attempt took this call at ${earlier.takenAt} and stopped before it recorded an end; ${tool.name}'s backend had already done it under its key (${summary}). Nothing was done twice.`,
        };
      }
      throw new Error(
        `${tool.name}'s lookup answered "${found.state}", which a ${isLongRunning(tool) ? 'long-running' : 'immediate'} tool cannot`,
      );
    },
  };
}
