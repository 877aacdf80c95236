// A circuit breaker around an LLM planner. Each failed turn has already paid its retries
// (seconds of backoff); after `failures` of them in a row the breaker opens, and for the
// cool-down every turn fails at once, so an alert run falls back to its runbook in
// milliseconds instead of paying the retries again. After the cool-down one turn is let
// through to probe: it closes the breaker, or opens it for another cool-down.
import type { Planner, PlannerInput, PlannerTurn } from '../agent/planner.js';
import type { Clock } from '../clock.js';
import { describeError, UpstreamError } from '../errors.js';

export type CircuitState = 'closed' | 'open' | 'half_open';

/** What /readyz and /metrics show of a breaker. */
export interface CircuitReport {
  planner: string;
  state: CircuitState;
  /** Failed turns in a row (each after its retries). */
  failures: number;
  /** While open: when the next turn is let through to probe. */
  openUntil: string | null;
  lastError: string | null;
  /** Turns refused at once while open, since the process started. */
  shortCircuited: number;
}

export interface CircuitBreakerOptions {
  /** Failed turns in a row that open it. */
  failures: number;
  /** How long it stays open before a probe. */
  coolDownMs: number;
  clock: Clock;
  /** Told when it opens (with why) and when it closes; for the audit log and the logs. */
  onChange?(change: { state: 'open' | 'closed'; report: CircuitReport }): void;
}

export interface GuardedPlanner extends Planner {
  circuit(): CircuitReport;
}

/** An UpstreamError that is the breaker's doing, not the LLM's: a failed turn here costs nothing. */
export function isShortCircuit(err: unknown): boolean {
  return err instanceof UpstreamError && err.code === 'circuit_open';
}

export function withCircuitBreaker(planner: Planner, options: CircuitBreakerOptions): GuardedPlanner {
  const { clock } = options;
  let state: CircuitState = 'closed';
  let failures = 0;
  let openUntil = 0;
  let lastError: string | null = null;
  let shortCircuited = 0;
  let probing = false;

  const report = (): CircuitReport => ({
    planner: planner.name,
    state,
    failures,
    openUntil: state === 'closed' ? null : new Date(openUntil).toISOString(),
    lastError,
    shortCircuited,
  });

  function open(): void {
    state = 'open';
    openUntil = clock.now() + options.coolDownMs;
    options.onChange?.({ state: 'open', report: report() });
  }

  return {
    name: planner.name,
    circuit: report,
    async next(input: PlannerInput): Promise<PlannerTurn> {
      if (state !== 'closed') {
        const cooling = clock.now() < openUntil;
        if (cooling || probing) {
          shortCircuited++;
          const until = new Date(openUntil).toISOString();
          throw new UpstreamError(
            planner.name,
            `not asked: its circuit breaker is open after ${failures} failed turn(s) in a row (last: ${lastError ?? 'unknown'}); until ${until} turns go to the runbook at once`,
            { retryable: true, code: 'circuit_open' },
          );
        }
        // Cooled down: this turn probes.
        state = 'half_open';
        probing = true;
      }
      try {
        const turn = await planner.next(input);
        const was = state;
        state = 'closed';
        failures = 0;
        lastError = null;
        if (was !== 'closed') options.onChange?.({ state: 'closed', report: report() });
        return turn;
      } catch (err) {
        // The model misbehaving or the caller giving up says nothing about the endpoint's health.
        if (err instanceof UpstreamError) {
          failures++;
          lastError = describeError(err);
          if (state === 'half_open' || failures >= options.failures) open();
        }
        throw err;
      } finally {
        probing = false;
      }
    },
  };
}
