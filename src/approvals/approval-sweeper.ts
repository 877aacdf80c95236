// What happens after people decide, and what happens when nobody does: a decided
// approval resumes its run (through the run queue, so a worker picks it up) or, for a
// direct call from an MCP client, has the gate execute it. A periodic sweep expires
// approvals past their time or made moot, and catches anything a crash left between a
// decision and its effect, so a restart of any process loses nothing.
import type { Logger } from '../logger.js';
import { createPeriodic } from '../periodic.js';
import type { Approval } from './approval.js';
import type { Approvals } from './approvals.js';

export interface ApprovalSweeperDeps {
  approvals: Approvals;
  /** Executes a granted direct call once (`Gate.executeApproved`). */
  executeApproved(approvalId: string): Promise<unknown>;
  /**
   * Resuming parked runs, in processes that have the run queue: `resume` is
   * `RunQueue.resume`, `waiting` lists runs parked for approval. Without it (the stdio MCP
   * server) runs are left to the worker processes.
   */
  runs?: { resume(runId: string): Promise<void>; waiting(): Promise<{ id: string }[]> };
  logger: Logger;
  /** Default 5 s: expiry is measured in hours, but a moot canary request should not linger. */
  intervalMs?: number;
  /** Whether this process judges mootness (default true): only one that executes runs should. */
  mootChecks?: boolean;
}

export interface ApprovalSweeper {
  /** One pass; resolves when done. Tests call it directly. */
  sweep(): Promise<void>;
  start(): void;
  stop(): Promise<void>;
}

export function createApprovalSweeper(deps: ApprovalSweeperDeps): ApprovalSweeper {
  const { approvals, logger } = deps;
  const intervalMs = deps.intervalMs ?? 5000;

  async function act(approval: Approval): Promise<void> {
    if (approval.runId) await deps.runs?.resume(approval.runId);
    else if (approval.status === 'granted' && !approval.consumedAt) await deps.executeApproved(approval.id);
  }

  // The fast path: the process that recorded the decision acts on it at once.
  approvals.onResolved((approval) => {
    act(approval).catch((err: unknown) =>
      logger.warn({ err, approvalId: approval.id }, 'acting on a decided approval failed; the next sweep retries'),
    );
  });

  async function sweepOnce(): Promise<void> {
    await approvals.expireDue({ moot: deps.mootChecks ?? true });
    for (const approval of await approvals.list({ status: 'granted' })) {
      if (!approval.runId && !approval.consumedAt) await deps.executeApproved(approval.id);
    }
    // A run whose approvals are all decided should not stay parked.
    if (!deps.runs) return;
    for (const run of await deps.runs.waiting()) {
      const mine = await approvals.list({ runId: run.id });
      if (!mine.some((a) => a.status === 'pending')) await deps.runs.resume(run.id);
    }
  }

  const periodic = createPeriodic('approval sweep', sweepOnce, { intervalMs, logger });
  return { sweep: periodic.run, start: periodic.start, stop: periodic.stop };
}
