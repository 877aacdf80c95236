// How a run waits: what it waits on is settled into its transcript (decided approvals,
// ended long-running calls); what is still to come either parks the run, freeing its
// worker until a sweep or an event resumes it, or, for long-running calls in a process
// that runs one run alone (chat, demo), is waited for here.
import type { Clock } from '../clock.js';
import type { AuditAppender, Gate } from '../gate/gate.js';
import type { CallEnd } from '../gate/executions.js';
import { openWaits, recordedOutcome, toPlannerOutcome, unsettledApprovals } from './parked-calls.js';
import type { CallOutcomeForPlanner, TranscriptItem } from './planner.js';
import type { Run } from './run.js';
import type { RunStore } from './run-store.js';

/** What the loop reads of an approval its run waits on (the approvals room's store). */
export interface ApprovalLookup {
  get(id: string): Promise<
    | {
        status: 'pending' | 'granted' | 'denied' | 'expired';
        resolution: string | null;
        consumedAt: string | null;
        outcome: CallEnd | null;
        rule: { id: string | null };
      }
    | undefined
  >;
}

export interface ParkingDeps {
  gate: Gate;
  audit: AuditAppender;
  runs: RunStore;
  /** Approvals the run's parked calls wait on; without it a parked call is never resumed. */
  approvals?: ApprovalLookup;
  clock: Clock;
  /** Appends to the transcript and saves the run (the loop's). */
  push(run: Run, item: TranscriptItem): Promise<void>;
  /** `park` (serve, worker) or `in_process` (default: chat, demo). */
  longWaits?: 'park' | 'in_process';
  /** In-process waits look again at least this often (default 1 s). */
  waitPollMs?: number;
}

/** The arguments the run proposed for `callId` (its plan item). */
function argsOf(run: Run, callId: string): unknown {
  for (const item of run.transcript)
    if (item.kind === 'plan') for (const c of item.calls) if (c.id === callId) return c.args;
  return undefined;
}

export function createParking(deps: ParkingDeps) {
  const { gate, audit, runs, clock, push } = deps;
  const iso = () => new Date(clock.now()).toISOString();

  /**
   * Brings decided approvals into the transcript: a grant executes its call through the
   * gate (once: the grant is consumed), a denial or expiry is told to the planner. True
   * while any approval still waits.
   */
  async function settleApprovals(run: Run): Promise<boolean> {
    const parked = unsettledApprovals(run);
    if (parked.length === 0) return false;
    if (!deps.approvals) return true;
    let waiting = false;
    const notes: string[] = [];
    for (const call of parked) {
      const approval = await deps.approvals.get(call.approvalId);
      let outcome: CallOutcomeForPlanner;
      if (!approval) {
        outcome = {
          status: 'refused',
          reason: `approval ${call.approvalId} cannot be found; nothing was executed`,
          ruleId: null,
        };
      } else if (approval.status === 'pending') {
        waiting = true;
        continue;
      } else if (approval.status === 'granted') {
        // park: an approved long-running call is started and then waited for like any other.
        if (!approval.consumedAt)
          outcome = toPlannerOutcome(await gate.executeApproved(call.approvalId, { park: true }));
        else if (approval.outcome) outcome = recordedOutcome(approval.outcome, approval.rule.id);
        else {
          // Consumed, and no end kept: the worker stopped mid-call. Its backend says what became of it.
          const resumed = await gate.resumeApproved({
            approvalId: call.approvalId,
            runId: run.id,
            callId: call.callId,
            principal: run.trigger.principal,
            tool: call.name,
            args: argsOf(run, call.callId),
            ruleId: approval.rule.id,
            park: true,
          });
          outcome = toPlannerOutcome(resumed);
          if (resumed.recovery) notes.push(resumed.recovery);
        }
      } else {
        outcome = {
          status: 'refused',
          reason: `approval ${approval.status}: ${approval.resolution ?? ''}`.trim(),
          ruleId: approval.rule.id,
        };
      }
      const status =
        approval?.status === 'granted' || approval?.status === 'denied' || approval?.status === 'expired'
          ? approval.status
          : 'missing';
      await push(run, {
        kind: 'approval',
        callId: call.callId,
        name: call.name,
        approvalId: call.approvalId,
        status,
        resolution: approval?.resolution ?? 'the approval record is missing',
        outcome,
      });
      for (const text of notes.splice(0)) await push(run, { kind: 'note', text });
    }
    return waiting;
  }

  /**
   * Brings long-running calls that ended (or ran out of time) into the transcript, one
   * `wait` item each with the call's final outcome. True while any still goes on.
   */
  async function settleWaits(run: Run): Promise<boolean> {
    let waiting = false;
    for (const wait of openWaits(run)) {
      const end = await gate.completeWaiting(wait);
      if (!end) {
        waiting = true;
        continue;
      }
      const outcome: CallOutcomeForPlanner =
        end.status === 'executed'
          ? { status: 'executed', output: end.output, summary: end.summary }
          : { status: 'failed', error: end.error };
      const waitedMs = Math.max(0, clock.now() - Date.parse(wait.startedAt));
      await push(run, { kind: 'wait', callId: wait.callId, name: wait.tool, waitedMs, outcome });
    }
    return waiting;
  }

  async function park(run: Run): Promise<void> {
    const approvals = unsettledApprovals(run).map((c) => c.approvalId);
    // People first: a run waiting for both is listed as waiting for approval.
    run.status = approvals.length > 0 ? 'waiting_approval' : 'waiting';
    run.parkedAt = iso();
    const waits = openWaits(run).map((w) => ({ callId: w.callId, tool: w.tool, deadline: w.deadline }));
    await audit.append({
      runId: run.id,
      principal: run.trigger.principal.id,
      kind: 'run.parked',
      data: { approvals, waits, steps: run.steps },
    });
    await runs.save(run);
  }

  return {
    /** Whether the run has calls waiting for people or for long-running work. */
    hasOpen: (run: Run) => unsettledApprovals(run).length > 0 || openWaits(run).length > 0,

    /**
     * Settles what the run waits on. Parks it (true) while people or, with `longWaits:
     * park`, long-running calls are still to come; in process, waits here for the calls.
     */
    async settleOrPark(run: Run): Promise<boolean> {
      for (;;) {
        const people = await settleApprovals(run);
        const work = await settleWaits(run);
        if (!people && !work) return false;
        if (!work || deps.longWaits === 'park') {
          await park(run);
          return true;
        }
        // Waiting here is waiting all the same: it does not count against the wall-clock budget.
        const from = clock.now();
        await gate.untilDone(openWaits(run), { timeoutMs: deps.waitPollMs ?? 1000 });
        run.waitedMs = (run.waitedMs ?? 0) + Math.max(0, clock.now() - from);
      }
    },
  };
}
