// What a parked run waits on, read from its transcript: calls waiting for people
// (approvals) and long-running calls under way (a training job, a canary rollout). The
// transcript is the only record: a call is open until a later item says how it ended.
import { startedWait, type CallEnd } from '../gate/index.js';
import { defaultIdempotencyKey, type GateOutcome, type WaitingCall } from '../gate/gate.js';
import type { CallOutcomeForPlanner } from './planner.js';
import type { Run } from './run.js';

export function toPlannerOutcome(outcome: GateOutcome): CallOutcomeForPlanner {
  switch (outcome.status) {
    case 'executed':
      return { status: 'executed', output: outcome.output, summary: outcome.summary };
    case 'refused':
      return { status: 'refused', reason: outcome.decision.reason, ruleId: outcome.decision.ruleId };
    case 'invalid':
      return {
        status: 'invalid',
        error: outcome.error,
        issues: outcome.issues,
        ...(outcome.code ? { code: outcome.code } : {}),
      };
    case 'pending_approval':
      return { status: 'pending_approval', reason: outcome.decision.reason, approvalId: outcome.approvalId };
    case 'failed':
      return { status: 'failed', error: outcome.error };
    case 'waiting':
      return {
        status: 'waiting',
        summary: outcome.summary,
        handle: outcome.wait.handle,
        startedAt: outcome.wait.startedAt,
        deadline: outcome.wait.deadline,
      };
  }
}

/** How an approved call that ran elsewhere (or before a crash) ended, as the planner sees it. */
export function recordedOutcome(outcome: CallEnd | null, ruleId: string | null): CallOutcomeForPlanner {
  if (!outcome) {
    // Taken for execution, then no result: the worker died mid-call. Never run it again blindly.
    return {
      status: 'failed',
      error:
        'the approved call was taken for execution but its result was never recorded (the worker stopped); check the current state before proposing it again',
    };
  }
  switch (outcome.status) {
    case 'executed':
      return { status: 'executed', output: outcome.output ?? null, summary: outcome.summary };
    case 'refused':
      return { status: 'refused', reason: outcome.summary, ruleId };
    case 'invalid':
      return { status: 'invalid', error: outcome.summary, issues: [] };
    case 'failed':
      return { status: 'failed', error: outcome.summary };
    case 'started': {
      // Started, then the worker stopped before its run noted it: the run waits for it still.
      const started = startedWait(outcome);
      if (!started) {
        return {
          status: 'failed',
          error: `the approved call was started (${outcome.summary}) but what it started was not recorded; check the current state before proposing it again`,
        };
      }
      return { status: 'waiting', summary: outcome.summary, ...started };
    }
  }
}

/** Calls this run parked for approval that have no decision in the transcript yet. */
export function unsettledApprovals(run: Run): { callId: string; name: string; approvalId: string }[] {
  const settled = new Set(run.transcript.flatMap((i) => (i.kind === 'approval' ? [i.callId] : [])));
  return run.transcript.flatMap((i) =>
    i.kind === 'result' && i.outcome.status === 'pending_approval' && i.outcome.approvalId && !settled.has(i.callId)
      ? [{ callId: i.callId, name: i.name, approvalId: i.outcome.approvalId }]
      : [],
  );
}

/** Long-running calls of this run still under way, as the gate follows them. */
export function openWaits(run: Run): WaitingCall[] {
  const open = new Map<string, WaitingCall>();
  for (const item of run.transcript) {
    if (item.kind === 'wait') open.delete(item.callId);
    if ((item.kind !== 'result' && item.kind !== 'approval') || item.outcome.status !== 'waiting') continue;
    const { handle, startedAt, deadline } = item.outcome;
    open.set(item.callId, {
      runId: run.id,
      callId: item.callId,
      principal: run.trigger.principal,
      tool: item.name,
      handle,
      idempotencyKey: defaultIdempotencyKey(run.id, item.callId),
      startedAt,
      deadline,
      approvalId: item.kind === 'approval' ? item.approvalId : null,
    });
  }
  return [...open.values()];
}
