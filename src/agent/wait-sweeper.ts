// Resumes runs parked on long-running calls (a training job, a canary rollout) once a
// call has ended or run out of time. Two paths: the process that parked a run watches its
// calls and resumes it the moment the work signals its end (the lab's trainer and
// deployer run in that process); and a periodic sweep of every parked run, in every
// process that executes runs, so a restart or a missed signal loses nothing. Resuming
// goes through the run queue; the resumed run records how each call ended.
import type { Clock } from '../clock.js';
import type { Logger } from '../logger.js';
import { createPeriodic } from '../periodic.js';
import type { Gate, WaitingCall } from '../gate/gate.js';
import { openWaits } from './parked-calls.js';
import type { Run, RunStatus } from './run.js';

export interface WaitSweeperDeps {
  gate: Pick<Gate, 'checkWaiting' | 'untilDone'>;
  runs: { list(filter: { status: RunStatus }): Promise<Run[]> };
  /** `RunQueue.resume`: resumes of one run coalesce while one is queued or active. */
  resume(runId: string): Promise<void>;
  clock: Clock;
  logger: Logger;
  /** Default 5 s, like the approval sweep. */
  intervalMs?: number;
}

export interface WaitSweeper {
  /** One pass over every parked run; resolves when done. Tests call it directly. */
  sweep(): Promise<void>;
  /** The fast path: follows the run's open calls and resumes it as soon as one ends. */
  watch(run: Run): void;
  start(): void;
  stop(): Promise<void>;
}

// A single timer may not run past ~24.8 days; a watch looks again at least this often.
const MAX_WATCH_MS = 60 * 60_000;

export function createWaitSweeper(deps: WaitSweeperDeps): WaitSweeper {
  const { gate, clock, logger } = deps;
  const intervalMs = deps.intervalMs ?? 5000;
  const watching = new Map<string, AbortController>();
  let stopped = false;

  /** True when any of the calls has ended or is past its deadline. */
  async function anyEnded(waits: readonly WaitingCall[]): Promise<boolean> {
    for (const wait of waits) if (await gate.checkWaiting(wait)) return true;
    return false;
  }

  async function sweepOnce(): Promise<void> {
    // A run waiting for approval may wait for work too: its call's end is recorded at once.
    for (const status of ['waiting', 'waiting_approval'] as const) {
      for (const run of await deps.runs.list({ status })) {
        const waits = openWaits(run);
        if (waits.length === 0) continue;
        try {
          if (await anyEnded(waits)) await deps.resume(run.id);
        } catch (err) {
          logger.warn({ err, runId: run.id }, 'could not look at or resume a waiting run; the next sweep tries again');
        }
      }
    }
  }

  const periodic = createPeriodic('wait sweep', sweepOnce, { intervalMs, logger });

  return {
    sweep: periodic.run,

    watch(run) {
      if (stopped || watching.has(run.id)) return;
      const waits = openWaits(run);
      if (waits.length === 0) return;
      const controller = new AbortController();
      watching.set(run.id, controller);
      void (async () => {
        try {
          while (!controller.signal.aborted) {
            const soonest = Math.min(...waits.map((w) => Date.parse(w.deadline))) - clock.now();
            // Until a call signals its end, or its deadline, when the run resumes to record the timeout.
            await gate.untilDone(waits, {
              timeoutMs: Math.min(Math.max(soonest, 0) + 10, MAX_WATCH_MS),
              signal: controller.signal,
            });
            if (controller.signal.aborted) return;
            if (await anyEnded(waits)) {
              await deps.resume(run.id);
              return;
            }
          }
        } catch (err) {
          logger.warn({ err, runId: run.id }, 'watching a waiting run failed; the sweep resumes it');
        } finally {
          if (watching.get(run.id) === controller) watching.delete(run.id);
        }
      })();
    },

    start() {
      periodic.start();
      // At once too: runs parked before a restart need not wait a whole interval to be looked at.
      periodic.run().catch((err: unknown) => logger.warn({ err }, 'wait sweep failed; it runs again'));
    },

    async stop() {
      stopped = true;
      for (const controller of watching.values()) controller.abort();
      watching.clear();
      await periodic.stop();
    },
  };
}
