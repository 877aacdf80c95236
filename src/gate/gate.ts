// The gate: the only way any tool executes, whoever asks (LLM, runbook, MCP client, CLI).
// It validates the call, assesses risk, asks the policy, records the decision in the
// audit log, and only then executes, refuses, or parks the call for approval. A
// long-running call (training, a canary) is started here and finished here, once.
import { isLongRunning, NO_RISK, type AnyTool, type Backends, type Risk } from '../../tools/index.js';
import { systemClock, type Clock } from '../clock.js';
import { describeError, isNotFound, UpstreamError } from '../errors.js';
import { publicMessage } from '../public-message.js';
import { describeValidation, validationIssues } from '../validation.js';
import type { Logger } from '../logger.js';
import {
  argsHashOf,
  createMemoryExecutions,
  startedWait,
  type CallEnd,
  type ExecutionRecord,
  type Executions,
} from './executions.js';
import { createLongCalls, type CompletedCall, type WaitingCall } from './long-calls.js';
import { createTakenCalls, endOf, endOfCompleted } from './taken-calls.js';
import { explainedDecision, policyRequestFor } from '../policy/call-request.js';
import type { Decision, PolicyPrincipal, PolicyRequest } from '../policy/types.js';
import type { AuditAppender } from '../audit/index.js';

export type { CompletedCall, WaitingCall } from './long-calls.js';
export type { AuditAppender };

/** Who asks: `user:alice`, `agent:alertmanager`, `mcp:claude-desktop`, with roles. */
export type Principal = PolicyPrincipal;
export type GateDecision = Decision;

/** The policy as the gate sees it: an enforced decision and, in shadow mode, a second one. */
export type PolicyEvaluator = (request: PolicyRequest) => { decision: GateDecision; shadow: GateDecision | null };

/** How a call runs: whether a long call may park its run while it waits, and the approval it runs under. */
export interface RunHow {
  park: boolean;
  approvalId: string | null;
}

export interface ParkedCall {
  runId: string | null;
  callId: string;
  principal: Principal;
  tool: string;
  args: Record<string, unknown>;
  risk: Risk;
  decision: GateDecision;
  idempotencyKey: string;
}

/** Where calls that need a human go. Absent, such calls are reported pending and never executed. */
export interface ApprovalSink {
  /** Parks the call as an approval (audited by the sink) and says where people decide. */
  request(call: ParkedCall): Promise<{ approvalId: string; where: string }>;
  /** Takes a complete grant for execution, once: the second taker gets `ok: false`. */
  consume(approvalId: string): Promise<{ ok: true; call: ParkedCall } | { ok: false; reason: string }>;
  recordOutcome(approvalId: string, outcome: CallEnd): Promise<void>;
}

export interface GateCall {
  runId: string | null;
  callId: string;
  principal: Principal;
  tool: string;
  args: unknown;
  /** Default `<runId>:<callId>`: retries of the same call carry the same key. */
  idempotencyKey?: string;
  /**
   * The caller can come back for a long-running call (a run that parks): such a call is
   * started and answered `waiting`, to be finished with `completeWaiting`. Otherwise the
   * gate waits for it here and answers with its end, as for any tool (an MCP client).
   */
  park?: boolean;
}

export type GateOutcome = (
  | { status: 'executed'; decision: GateDecision; risk: Risk; output: unknown; summary: string }
  | { status: 'refused'; decision: GateDecision; risk: Risk | null }
  /** `code: not_found`: something the call names (model, version, dataset, served model) does not exist. */
  | { status: 'invalid'; error: string; issues: { path: string; message: string }[]; code?: 'not_found' }
  | { status: 'pending_approval'; decision: GateDecision; risk: Risk; approvalId: string | null; where: string | null }
  | { status: 'failed'; decision: GateDecision; risk: Risk; error: string }
  /** A long-running call was started and goes on; `summary` says what is under way. */
  | { status: 'waiting'; decision: GateDecision; risk: Risk; wait: WaitingCall; summary: string }
) & {
  /**
   * Set when an earlier attempt had taken the call and stopped before recording its end:
   * what the backend said became of the call's key and what was done about it, in words for
   * the planner and the transcript.
   */
  recovery?: string;
};

export interface Gate {
  call(call: GateCall): Promise<GateOutcome>;
  /**
   * Executes a call people approved, exactly once: the grant is consumed first, the
   * arguments validated again, and the policy asked again with fresh risk figures. A deny
   * now, or a different rule now asking for approval, refuses it; nothing is executed on doubt.
   */
  executeApproved(approvalId: string, options?: { park?: boolean }): Promise<GateOutcome>;
  /**
   * Looks at a waiting call once: its end (output checked against the tool's schema and
   * recorded as `execution.finished`, or `execution.failed` when it failed or its deadline
   * passed), or null, recording nothing, while it goes on or cannot be looked at (a failed
   * look is no end; past the deadline the timeout names it). The caller keeps the end: a
   * call is completed by the one run that waits for it.
   */
  completeWaiting(wait: WaitingCall): Promise<CompletedCall | null>;
  /**
   * A call people approved whose grant was consumed and whose end was never recorded (the
   * worker stopped): asks the backend by key and finishes it (see GateOutcome.recovery),
   * executing it at most once. The approval is not asked again.
   */
  resumeApproved(call: ResumedApprovedCall): Promise<GateOutcome>;
  /** Whether completeWaiting would end the call now; records nothing (for sweeps). */
  checkWaiting(wait: WaitingCall): Promise<boolean>;
  /** Resolves when any of the calls may have ended (the work signals its end here), or after `timeoutMs`. */
  untilDone(waits: readonly WaitingCall[], options: { timeoutMs: number; signal?: AbortSignal }): Promise<void>;
}

/** An approved call as its run recorded it: the approval, and the call it was for. */
export interface ResumedApprovedCall {
  approvalId: string;
  runId: string | null;
  callId: string;
  principal: Principal;
  tool: string;
  args: unknown;
  /** The rule that asked for the approval. */
  ruleId: string | null;
  park?: boolean;
}

export interface GateOptions {
  tools: readonly AnyTool[];
  backends: Backends;
  policy: PolicyEvaluator;
  audit: AuditAppender;
  approvals?: ApprovalSink;
  /**
   * Which calls with side effects were taken for execution (default: in memory). Give one
   * that outlives the process wherever a run can be resumed by another process or start.
   */
  executions?: Executions;
  logger?: Logger;
  /** Deadlines of long-running calls (default the system clock). */
  clock?: Clock;
  /** How often a long-running call without a completion signal is looked at (default 1 s). */
  pollIntervalMs?: number;
}

/** The key a call gets unless its caller gives one: retries of the same call share it. */
export function defaultIdempotencyKey(runId: string | null, callId: string): string {
  return `${runId ?? 'direct'}:${callId}`;
}

export function createGate(options: GateOptions): Gate {
  const { tools, backends, policy, audit, approvals, logger } = options;
  const executions = options.executions ?? createMemoryExecutions();
  const clock = options.clock ?? systemClock;
  const byName = new Map(tools.map((t) => [t.name, t]));

  // Every audit write is awaited: if it fails, the error propagates and nothing executes.
  const record = async (
    call: { runId: string | null; principal: Principal },
    kind: string,
    data: Record<string, unknown>,
  ) => {
    try {
      await audit.append({ runId: call.runId, principal: call.principal.id, kind, data });
    } catch (err) {
      logger?.error({ err, kind }, 'audit append failed: the gate refuses to act unrecorded');
      throw err instanceof UpstreamError
        ? err
        : new UpstreamError('audit', describeError(err), { retryable: false, code: 'audit_failed', cause: err });
    }
  };

  const long = createLongCalls({
    tools: byName,
    backends,
    clock,
    record,
    ...(logger ? { logger } : {}),
    ...(approvals ? { recordApproved: (id: string, outcome: CallEnd) => approvals.recordOutcome(id, outcome) } : {}),
    ...(options.pollIntervalMs !== undefined ? { pollIntervalMs: options.pollIntervalMs } : {}),
  });

  /**
   * Risk figures, then the policy's verdict on them. Either failing denies (fail closed):
   * without risk figures the policy cannot judge the call. `risk` is null when unassessed.
   * A call naming something that does not exist is no refusal: `notFound` says what is missing.
   */
  async function judge(
    tool: AnyTool,
    args: Record<string, unknown>,
    principal: Principal,
    idempotencyKey: string,
  ): Promise<{ risk: Risk | null; decision: GateDecision; shadow: GateDecision | null; notFound?: string }> {
    let risk: Risk;
    try {
      risk = await tool.assessRisk(args, { backends, principal: principal.id, idempotencyKey });
    } catch (err) {
      const error = publicMessage(err);
      if (isNotFound(err))
        return {
          risk: null,
          decision: { effect: 'deny', ruleId: null, reason: `not found: ${error}`, policy: '(gate)' },
          shadow: null,
          notFound: error,
        };
      const reason = `the gate refused this call without asking the policy: its risk could not be assessed (${error}), and a call whose risk is unknown is denied; nothing was executed`;
      return { risk: null, decision: { effect: 'deny', ruleId: null, reason, policy: '(gate)', error }, shadow: null };
    }
    try {
      const { decision, shadow } = policy(policyRequestFor(tool, args, principal, risk));
      return { risk, decision: explainedDecision(decision, risk), shadow };
    } catch (err) {
      return {
        risk,
        decision: {
          effect: 'deny',
          ruleId: null,
          reason: `policy evaluation failed: ${publicMessage(err)}`,
          policy: '(gate)',
          error: publicMessage(err),
        },
        shadow: null,
      };
    }
  }

  /**
   * A call an earlier attempt took for execution under the same key (a run resumed after
   * its worker died) is answered with how it ended, never executed again. Null: first time.
   */
  async function replayed(
    call: { runId: string | null; callId: string; principal: Principal; idempotencyKey: string },
    tool: AnyTool,
    args: Record<string, unknown>,
    earlier: ExecutionRecord | undefined | null,
    how: { park: boolean; approvedRuleId?: string | null },
  ): Promise<GateOutcome | null> {
    if (!earlier) return null;
    const key = call.idempotencyKey;
    if (earlier.tool !== tool.name || earlier.argsHash !== argsHashOf(args)) {
      const error = `idempotency key ${key} was already used at ${earlier.takenAt} for another call (${earlier.tool} with other arguments); nothing was executed: give this call a key of its own`;
      await record(call, 'call.invalid', { callId: call.callId, tool: tool.name, error });
      return { status: 'invalid', error, issues: [{ path: '(idempotencyKey)', message: error }] };
    }
    await record(call, 'call.replayed', {
      callId: call.callId,
      tool: tool.name,
      idempotencyKey: key,
      takenAt: earlier.takenAt,
      end: earlier.end?.status ?? null,
    });
    // Taken, and no end kept: its backend says what became of the key.
    if (!earlier.end) return taken.finish(tool, earlier, args, how);
    return outcomeOf(earlier);
  }

  /** A call naming something that does not exist: audited as such, answered as a tool error. */
  async function notFoundOutcome(
    call: { runId: string | null; callId: string; principal: Principal },
    tool: AnyTool,
    args: Record<string, unknown>,
    error: string,
  ): Promise<GateOutcome> {
    await record(call, 'call.not_found', { callId: call.callId, tool: tool.name, args, error });
    return { status: 'invalid', code: 'not_found', error, issues: [{ path: '(arguments)', message: error }] };
  }

  async function execute(tool: AnyTool, parked: ParkedCall, how: RunHow): Promise<GateOutcome> {
    const { decision, risk } = parked;
    // Read-only tools may run again (a fresh look is no harm); anything else is taken once, before it starts.
    const once = !tool.annotations.readOnly;
    if (once) {
      const taking: ExecutionRecord = {
        key: parked.idempotencyKey,
        runId: parked.runId,
        callId: parked.callId,
        principal: parked.principal,
        tool: tool.name,
        argsHash: argsHashOf(parked.args),
        decision,
        risk,
        approvalId: how.approvalId,
        takenAt: new Date(clock.now()).toISOString(),
        end: null,
      };
      // Taken meanwhile by another attempt (a run resumed by two workers at once): asked of the backend too.
      const earlier = await replayed(parked, tool, parked.args, await executions.take(taking), how);
      if (earlier) return earlier;
    }
    await record(parked, 'execution.started', {
      callId: parked.callId,
      tool: tool.name,
      idempotencyKey: parked.idempotencyKey,
    });
    const outcome = await run(tool, parked, how);
    // Kept for a resumed attempt; failing to keep it must not undo what was done and audited.
    if (once)
      await executions
        .finish(parked.idempotencyKey, endOf(outcome))
        .catch((err: unknown) =>
          logger?.warn(
            { err, key: parked.idempotencyKey },
            'could not record how a call ended; a resumed attempt will be told its end is unknown',
          ),
        );
    return outcome;
  }

  const taken = createTakenCalls({
    backends,
    clock,
    executions,
    long,
    record,
    judge,
    run: (tool, parked, how) => run(tool, parked, how),
    warn: (err, key) =>
      logger?.warn({ err, key }, 'could not record how a call ended; a resumed attempt will ask its backend'),
  });

  async function run(tool: AnyTool, parked: ParkedCall, how: RunHow): Promise<GateOutcome> {
    const { decision, risk } = parked;
    try {
      if (isLongRunning(tool)) {
        const r = await long.begin(tool, parked, how);
        if (r.status === 'failed') return { status: 'failed', decision, risk, error: r.error };
        return { ...r, decision, risk };
      }
      const raw = await tool.execute(parked.args, {
        backends,
        principal: parked.principal.id,
        idempotencyKey: parked.idempotencyKey,
      });
      const checked = tool.output.safeParse(raw);
      if (!checked.success) {
        throw new Error(
          `tool ${tool.name} returned output that does not match its schema: ${describeValidation(checked.error, '(output)')}`,
        );
      }
      const summary = tool.summarize(checked.data);
      await record(parked, 'execution.finished', {
        callId: parked.callId,
        tool: tool.name,
        summary,
        output: checked.data,
      });
      return { status: 'executed', decision, risk, output: checked.data, summary };
    } catch (err) {
      if (err instanceof UpstreamError && err.code === 'audit_failed') throw err;
      // The model, MCP clients and the run's readers see the failure by name; the log keeps where.
      logger?.warn({ err, tool: tool.name, callId: parked.callId }, 'a tool failed after the policy allowed it');
      const error = publicMessage(err);
      await record(parked, 'execution.failed', { callId: parked.callId, tool: tool.name, error });
      return { status: 'failed', decision, risk, error };
    }
  }

  return {
    async call(call) {
      const idempotencyKey = call.idempotencyKey ?? defaultIdempotencyKey(call.runId, call.callId);
      await record(call, 'call.proposed', { callId: call.callId, tool: call.tool, args: call.args ?? null });

      const tool = byName.get(call.tool);
      if (!tool) {
        const error = `unknown tool "${call.tool}"; available tools: ${[...byName.keys()].join(', ')}`;
        await record(call, 'call.invalid', { callId: call.callId, tool: call.tool, error });
        return { status: 'invalid', error, issues: [{ path: '(tool)', message: error }] };
      }
      const parsed = tool.input.safeParse(call.args ?? {});
      if (!parsed.success) {
        const issues = validationIssues(parsed.error, '(arguments)');
        const error = `invalid arguments for ${tool.name}: ${describeValidation(parsed.error, '(arguments)')}`;
        await record(call, 'call.invalid', { callId: call.callId, tool: tool.name, error, issues });
        return { status: 'invalid', error, issues };
      }
      const args = parsed.data as Record<string, unknown>;
      // Asked again after a crash: what happened then stands, whatever the policy says now.
      const earlier = tool.annotations.readOnly
        ? null
        : await replayed({ ...call, idempotencyKey }, tool, args, await executions.find(idempotencyKey), {
            park: call.park === true,
          });
      if (earlier) return earlier;
      const { risk, decision, shadow, notFound } = await judge(tool, args, call.principal, idempotencyKey);
      if (notFound !== undefined) return notFoundOutcome(call, tool, args, notFound);
      await record(call, 'policy.decision', { callId: call.callId, tool: tool.name, args, risk, decision, shadow });
      if (risk === null) return { status: 'refused', decision, risk: null };

      const parked: ParkedCall = {
        runId: call.runId,
        callId: call.callId,
        principal: call.principal,
        tool: tool.name,
        args,
        risk,
        decision,
        idempotencyKey,
      };
      if (decision.effect === 'deny') return { status: 'refused', decision, risk };
      if (decision.effect === 'require_approval') {
        if (!approvals) {
          const reason = `${decision.reason} — approval by ${decision.approval?.count ?? 1} of [${decision.approval?.roles.join(', ') ?? ''}] is required, and no approval channel is configured, so the call was not executed`;
          return { status: 'pending_approval', decision: { ...decision, reason }, risk, approvalId: null, where: null };
        }
        // The sink records approval.requested with the approval's id, hash and expiry.
        const { approvalId, where } = await approvals.request(parked);
        return { status: 'pending_approval', decision, risk, approvalId, where };
      }
      return execute(tool, parked, { park: call.park === true, approvalId: null });
    },

    async executeApproved(approvalId, { park = false } = {}) {
      const denial = (reason: string): GateDecision => ({ effect: 'deny', ruleId: null, reason, policy: '(approval)' });
      const refuse = (reason: string): GateOutcome => ({ status: 'refused', decision: denial(reason), risk: null });
      if (!approvals) return refuse(`no approval channel is configured, so approval ${approvalId} cannot be executed`);
      const taken = await approvals.consume(approvalId);
      if (!taken.ok) {
        await record({ runId: null, principal: { id: 'system:approvals', roles: [] } }, 'approval.not_executed', {
          approvalId,
          reason: taken.reason,
        });
        return refuse(taken.reason);
      }
      const parked = taken.call;
      const outcome = await (async (): Promise<GateOutcome> => {
        const tool = byName.get(parked.tool);
        const parsed = tool?.input.safeParse(parked.args);
        if (!tool || !parsed?.success) {
          const error = `approval ${approvalId}: ${tool ? `the approved arguments are no longer valid for ${tool.name}` : `tool ${parked.tool} no longer exists`}; nothing was executed`;
          await record(parked, 'call.invalid', { callId: parked.callId, tool: parked.tool, approvalId, error });
          return {
            status: 'invalid',
            error,
            issues: parsed && !parsed.success ? validationIssues(parsed.error, '(arguments)') : [],
          };
        }
        const args = parsed.data as Record<string, unknown>;
        const { risk, decision, shadow, notFound } = await judge(tool, args, parked.principal, parked.idempotencyKey);
        if (notFound !== undefined)
          return notFoundOutcome(parked, tool, args, `approval ${approvalId} was not executed: ${notFound}`);
        // The approval answers the rule that asked for it; any other verdict now wins.
        const stillApproved =
          risk !== null &&
          (decision.effect === 'allow' ||
            (decision.effect === 'require_approval' && decision.ruleId === parked.decision.ruleId));
        await record(parked, 'policy.decision', {
          callId: parked.callId,
          tool: tool.name,
          args,
          risk,
          decision,
          shadow,
          approvalId,
          honoured: stillApproved,
        });
        if (risk === null)
          return {
            status: 'refused',
            decision: { ...decision, reason: `approval ${approvalId} was not executed: ${decision.reason}` },
            risk: null,
          };
        if (!stillApproved) {
          const why =
            decision.effect === 'deny'
              ? `the policy now denies it (rule ${decision.ruleId ?? '(none)'}: ${decision.reason})`
              : `the policy now asks for approval under another rule (${decision.ruleId}: ${decision.reason}); propose the call again`;
          return {
            status: 'refused',
            decision: { ...decision, effect: 'deny', reason: `approval ${approvalId} was not executed: ${why}` },
            risk,
          };
        }
        return execute(tool, { ...parked, args, risk, decision }, { park, approvalId });
      })();
      await approvals.recordOutcome(approvalId, endOf(outcome));
      return outcome;
    },

    async resumeApproved(call) {
      const idempotencyKey = defaultIdempotencyKey(call.runId, call.callId);
      const tool = byName.get(call.tool);
      const parsed = tool?.input.safeParse(call.args ?? {});
      const outcome = await (async (): Promise<GateOutcome> => {
        if (!tool || !parsed?.success) {
          const error = `approval ${call.approvalId}: ${tool ? `the approved arguments are no longer valid for ${tool.name}` : `tool ${call.tool} no longer exists`}; nothing was executed`;
          await record(call, 'call.invalid', {
            callId: call.callId,
            tool: call.tool,
            approvalId: call.approvalId,
            error,
          });
          return {
            status: 'invalid',
            error,
            issues: parsed && !parsed.success ? validationIssues(parsed.error, '(arguments)') : [],
          };
        }
        const args = parsed.data as Record<string, unknown>;
        const how = { park: call.park === true, approvedRuleId: call.ruleId };
        const earlier = await executions.find(idempotencyKey);
        if (earlier) return (await replayed({ ...call, idempotencyKey }, tool, args, earlier, how))!;
        // Consumed, then the worker stopped before taking the key: nothing started. The grant stands for its rule.
        // Its risk figures are judged afresh before it executes; these only stand in the record until then.
        const claim: ExecutionRecord = {
          key: idempotencyKey,
          runId: call.runId,
          callId: call.callId,
          principal: call.principal,
          tool: tool.name,
          argsHash: argsHashOf(args),
          decision: {
            effect: 'require_approval',
            ruleId: call.ruleId,
            reason: `approved (${call.approvalId})`,
            policy: '(approval)',
          },
          risk: NO_RISK,
          approvalId: call.approvalId,
          takenAt: new Date(clock.now()).toISOString(),
          end: null,
        };
        const other = await executions.take(claim);
        if (other) return (await replayed({ ...call, idempotencyKey }, tool, args, other, how))!;
        return taken.finish(tool, claim, args, how);
      })();
      await approvals
        ?.recordOutcome(call.approvalId, endOf(outcome))
        .catch((err: unknown) =>
          logger?.warn(
            { err, approvalId: call.approvalId },
            'could not record how a resumed approved call ended with its approval',
          ),
        );
      return outcome;
    },

    async completeWaiting(wait) {
      const key = wait.idempotencyKey;
      const kept = (await executions.find(key).catch(() => undefined))?.end;
      // Recorded already (the run stopped before keeping it in its transcript): the same end, not a second record of it.
      if (kept && !kept.recording && (kept.status === 'executed' || kept.status === 'failed')) {
        return kept.status === 'executed'
          ? { status: 'executed', output: kept.output ?? null, summary: kept.summary }
          : { status: 'failed', error: kept.summary, timedOut: false };
      }
      const warn = (err: unknown) => logger?.warn({ err, key }, 'could not record how a waiting call ended');
      const end = await long.complete(wait, {
        // An attempt stopped between this mark and the end's entry: its entry may exist, so the next one says it may repeat it.
        mayRepeat: kept?.recording === true,
        beforeRecord: (e) => executions.finish(key, { ...endOfCompleted(e), recording: true }).catch(warn),
      });
      if (end) await executions.finish(key, endOfCompleted(end)).catch(warn);
      return end;
    },
    checkWaiting: (wait) => long.check(wait),
    untilDone: (waits, opts) => long.untilDone(waits, opts),
  };
}

/** What an earlier attempt's record says happened, as this attempt's outcome. */
function outcomeOf(earlier: ExecutionRecord): GateOutcome {
  const { decision, risk, end } = earlier;
  if (!end) {
    const error = `an earlier attempt took this ${earlier.tool} call for execution at ${earlier.takenAt} and has recorded no end (it is still under way elsewhere, or its worker stopped); it was not executed again: check the current state before proposing it again`;
    return { status: 'failed', decision, risk, error };
  }
  if (end.status === 'executed')
    return { status: 'executed', decision, risk, output: end.output ?? null, summary: end.summary };
  const started = startedWait(end);
  if (started) {
    const wait: WaitingCall = {
      runId: earlier.runId,
      callId: earlier.callId,
      principal: earlier.principal,
      tool: earlier.tool,
      idempotencyKey: earlier.key,
      approvalId: earlier.approvalId,
      ...started,
    };
    return { status: 'waiting', decision, risk, wait, summary: end.summary };
  }
  return { status: 'failed', decision, risk, error: `an earlier attempt of this call already ended: ${end.summary}` };
}
