// The handler a worker gives the RunQueue: start a queued run, or carry on with one a
// dead worker left behind (the queue hands the same run id back after a crash or retry).
import { isParked, type Run, type Trigger } from '../agent/run.js';
import type { RunHandler } from './run-queue.js';

/** What the handler needs of the agent (`createAgent` returns it). */
export interface RunDriver {
  start(trigger: Trigger, id: string, options?: { signal?: AbortSignal }): Promise<Run>;
  resume(id: string, options?: { signal?: AbortSignal }): Promise<Run>;
}

/** What the handler needs of the run store (`RunStore`). */
export interface RunLookup {
  get(id: string): Promise<Run | undefined>;
}

export interface AgentRunHandlerOptions {
  /** Told when a run ended or parked, e.g. to log it or update /metrics. */
  onSettled?: (run: Run, how: 'started' | 'resumed') => void;
}

/**
 * A stored run means an earlier attempt got as far as saving it: resume rather than
 * start, so a run is never planned twice from scratch. Resuming a parked run is safe: the
 * agent looks at its approvals and long-running calls and parks again if any still waits.
 */
export function agentRunHandler(agent: RunDriver, runs: RunLookup, options: AgentRunHandlerOptions = {}): RunHandler {
  return async (runId, trigger, signal) => {
    const drive = signal ? { signal } : {};
    const stored = await runs.get(runId);
    if (!stored) {
      // A resume of a run that was never stored has nothing to continue.
      if (!trigger) return;
      // Not `onSettled?.(await agent.start(…))`: an absent listener would skip the run itself.
      const started = await agent.start(trigger, runId, drive);
      options.onSettled?.(started, 'started');
      return isParked(started.status) ? 'parked' : undefined;
    }
    if (stored.status !== 'running' && !isParked(stored.status)) return;
    const resumed = await agent.resume(runId, drive);
    options.onSettled?.(resumed, 'resumed');
    return isParked(resumed.status) ? 'parked' : undefined;
  };
}
