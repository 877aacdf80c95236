// Keeps analysing a canary that holds traffic while no stepping loop drives it: paused at
// its authorised share (perhaps for hours, while a human decides on more), paused for thin
// traffic, or left behind by a restart. A pending approval must never keep a bad canary
// serving, so a held canary is rolled back without anyone asking once `failuresToRollback`
// analyses in a row fail. A step rolls back on one failure; a held canary is analysed 60
// times an hour, and even a rare false failure per analysis adds up over a long wait, while
// consecutive windows hold disjoint traffic, so a second failure is independent evidence.
// With a CanaryAnalyzer (Prometheus) it judges the canary instead of the lab's analysis; its
// "no data" counts as a lack of traffic does here: no failure, analysed again next interval.
import type { Clock } from '../../clock.js';
import { describeError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import type { CanaryAnalysis, Environment } from '../../../tools/ports.js';
import { checksBehind, failureReason, type CanaryAnalyzer } from '../canary-analyzer.js';
import { analyseCanary, type CanaryThresholds } from './canary-analysis.js';
import type { DeploymentEntry, HistoryRecord } from './deployment-store.js';
import type { ServingStats } from './serving-stats.js';

/** setTimeout and clearTimeout, passed in so tests can fire the watch by hand. */
export interface Timers {
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const systemTimers: Timers = {
  setTimeout(callback, ms) {
    const timer = setTimeout(callback, ms);
    // A command that forgets to close the lab must still exit; close() clears it anyway.
    timer.unref();
    return timer;
  },
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/** How often a held canary is analysed unless the lab is told otherwise. */
export const DEFAULT_WATCH_INTERVAL_MS = 60_000;
/**
 * Failed analyses in a row that roll a held canary back. Two: a healthy canary fails one or
 * two analyses in a thousand (bench/canary-analysis.ts), so two in a row a few times in a
 * million, about 0.02% of held hours, while a clearly bad one fails every analysis and pays
 * one more interval at its held share. A third would buy little and keep a bad canary longer.
 */
export const DEFAULT_FAILURES_TO_ROLLBACK = 2;
/** Watch analyses a rollout keeps (the newest); the history file keeps every one. */
export const WATCH_ANALYSES_KEPT = 5;
/** Who the history names for a watch analysis that rolls nothing back; the one that does rolls back as `canary-analysis`, like a failed step. */
export const WATCH_PRINCIPAL = 'canary-watch';

/** The deployer's state and moves, as the watch needs them. */
export interface WatchedDeployments {
  entry(model: string, environment: Environment): DeploymentEntry | undefined;
  /** True while a deployCanary loop drives this model/environment: it analyses its own steps. */
  driven(model: string, environment: Environment): boolean;
  /** Sets the entry at once (before its first await) and persists it with a history record. */
  commit(
    model: string,
    environment: Environment,
    entry: DeploymentEntry,
    record: Pick<HistoryRecord, 'action' | 'by' | 'reason' | 'analysis'>,
  ): Promise<void>;
  /** Sends all traffic back to the last known-good version, the entry set at once like commit. */
  rollBackTo(
    model: string,
    environment: Environment,
    entry: DeploymentEntry,
    by: string,
    reason: string,
    analysis: CanaryAnalysis,
  ): Promise<unknown>;
}

export interface CanaryWatchOptions {
  deployments: WatchedDeployments;
  stats: ServingStats;
  thresholds: CanaryThresholds;
  intervalMs: number;
  /** Failed analyses in a row that roll the canary back (default DEFAULT_FAILURES_TO_ROLLBACK). */
  failuresToRollback?: number;
  clock: Clock;
  timers: Timers;
  logger: Logger;
  /** Judges the held canary instead of the lab's analysis of `stats` (see deployer.ts). */
  analyzer?: CanaryAnalyzer;
}

export interface CanaryWatch {
  /** Starts watching (no-op when already watching or closed); the first analysis comes one interval later. */
  watch(model: string, environment: Environment): void;
  unwatch(model: string, environment: Environment): void;
  watching(): { model: string; environment: Environment }[];
  /** Clears every timer and waits for an analysis under way; nothing is watched afterwards. */
  close(): Promise<void>;
}

/** A canary serves traffic and its rollout is neither promoted nor rolled back. */
export function holdsTraffic(entry: DeploymentEntry | undefined): entry is DeploymentEntry {
  const status = entry?.rollout?.status;
  return (
    (status === 'paused' || status === 'progressing') &&
    entry!.split.canaryVersion !== null &&
    entry!.split.canaryPercent > 0
  );
}

/**
 * The entry with `analysis` appended. A passing analysis that takes the watched tail past
 * WATCH_ANALYSES_KEPT drops the tail's oldest, so a canary held for days keeps its step
 * analyses and a short tail; a failed one drops nothing, so every failure of a run that
 * rolls back is in the rollout.
 */
export function withWatchAnalysis(entry: DeploymentEntry, analysis: CanaryAnalysis): DeploymentEntry {
  const rollout = entry.rollout!;
  const analyses = [...rollout.analyses, analysis];
  let watched = (entry.watchedAnalyses ?? 0) + 1;
  if (analysis.passed && watched > WATCH_ANALYSES_KEPT) {
    analyses.splice(analyses.length - watched, 1);
    watched--;
  }
  return { ...entry, rollout: { ...rollout, analyses }, watchedAnalyses: watched };
}

/**
 * Failed watch analyses at the end of the rollout's analyses: the failures in a row so far.
 * Read from the entry rather than counted in memory, so a restart does not forget them; a
 * pass, a step analysis (it ends the watched tail) and a rollback all end the run.
 */
export function failuresInARow(entry: DeploymentEntry): number {
  const analyses = entry.rollout?.analyses ?? [];
  const watched = Math.min(entry.watchedAnalyses ?? 0, analyses.length);
  let n = 0;
  for (let i = analyses.length - 1; i >= analyses.length - watched && !analyses[i]!.passed; i--) n++;
  return n;
}

interface Slot {
  key: string;
  model: string;
  environment: Environment;
  /** Epoch ms the next analysis window starts at: the last analysis, or when watching began. */
  since: number;
  timer: unknown;
  /** Aborted on unwatch and close, so an analyzer measuring for minutes does not hold either up. */
  abort: AbortController;
}

export function createCanaryWatch(options: CanaryWatchOptions): CanaryWatch {
  const { deployments, stats, thresholds, intervalMs, clock, timers, logger, analyzer } = options;
  const failuresToRollback = options.failuresToRollback ?? DEFAULT_FAILURES_TO_ROLLBACK;
  const slots = new Map<string, Slot>();
  const inFlight = new Set<Promise<void>>();
  let closed = false;
  const keyOf = (model: string, environment: Environment) => `${model}\u0000${environment}`;

  /** One look at the canary. Everything up to the commit is synchronous, so no rollback or new loop can land between reading the entry and acting on it. */
  async function analyse(slot: Slot): Promise<'again' | 'stop'> {
    const { model, environment } = slot;
    const entry = deployments.entry(model, environment);
    if (!holdsTraffic(entry) || deployments.driven(model, environment)) return 'stop';
    if (analyzer) return analyseWith(analyzer, slot, entry);
    const canary = stats.window(model, environment, entry.split.canaryVersion!, slot.since);
    // Too little traffic is no evidence either way: keep widening the window, as a step waits.
    if (canary.requests < thresholds.minRequestsPerStep) return 'again';
    const stable = stats.window(model, environment, entry.split.stableVersion, slot.since);
    const now = clock.now();
    const analysis = analyseCanary({
      canary,
      stable,
      thresholds,
      trafficPercent: entry.split.canaryPercent,
      at: new Date(now).toISOString(),
    });
    slot.since = now;
    return act(slot, entry, analysis);
  }

  /** The analyzer measures over time: what it judged must still be what is held, read again after it answers. */
  async function analyseWith(judge: CanaryAnalyzer, slot: Slot, before: DeploymentEntry): Promise<'again' | 'stop'> {
    const { model, environment } = slot;
    const { canaryVersion, stableVersion, canaryPercent } = before.split;
    const outcome = await judge.analyse(
      { model, environment, canaryVersion: canaryVersion!, stableVersion, trafficPercent: canaryPercent },
      { signal: slot.abort.signal },
    );
    if (slot.abort.signal.aborted) return 'stop';
    const entry = deployments.entry(model, environment);
    if (
      !holdsTraffic(entry) ||
      deployments.driven(model, environment) ||
      entry.split.canaryVersion !== canaryVersion ||
      entry.split.stableVersion !== stableVersion ||
      entry.split.canaryPercent !== canaryPercent
    )
      return 'stop';
    slot.since = clock.now();
    if (outcome.verdict === 'inconclusive') {
      // No data is no evidence either way, as too little traffic is: no failure counted, nothing passed.
      logger.info(
        { model, environment, canaryVersion, lacking: checksBehind(outcome).unmeasured },
        'a held canary could not be judged (no data); analysing again next interval',
      );
      return 'again';
    }
    return act(slot, entry, outcome);
  }

  /** Records a watch analysis, and rolls the canary back after `failuresToRollback` failures in a row. */
  async function act(slot: Slot, entry: DeploymentEntry, analysis: CanaryAnalysis): Promise<'again' | 'stop'> {
    const { model, environment } = slot;
    const percent = entry.split.canaryPercent;
    const next = withWatchAnalysis(entry, analysis);
    if (analysis.passed) {
      await deployments.commit(model, environment, next, {
        action: 'analysis',
        by: WATCH_PRINCIPAL,
        reason: `analysis passed while held at ${percent}%`,
        analysis,
      });
      return 'again';
    }
    const failed = failureReason(analysis);
    const inARow = failuresInARow(next);
    const count = `${inARow} of ${failuresToRollback} in a row`;
    if (inARow < failuresToRollback) {
      logger.warn(
        { model, environment, canaryVersion: entry.split.canaryVersion, failed, inARow, failuresToRollback },
        'a held canary failed its analysis; analysing again before any rollback',
      );
      await deployments.commit(model, environment, next, {
        action: 'analysis',
        by: WATCH_PRINCIPAL,
        reason: `analysis failed while held at ${percent}% (${count}): ${failed}`,
        analysis,
      });
      return 'again';
    }
    logger.warn(
      { model, environment, canaryVersion: entry.split.canaryVersion, failed, inARow },
      'a held canary failed its analysis again; rolling back',
    );
    // Nothing is held from here on, even before the rollback is on disk.
    if (slots.get(slot.key) === slot) slots.delete(slot.key);
    await deployments.rollBackTo(
      model,
      environment,
      next,
      'canary-analysis',
      `canary analysis failed at ${percent}% while held: ${failed} (${count})`,
      analysis,
    );
    return 'stop';
  }

  function schedule(slot: Slot): void {
    slot.timer = timers.setTimeout(() => tick(slot), intervalMs);
  }

  function tick(slot: Slot): void {
    const { key } = slot;
    slot.timer = undefined;
    const run = analyse(slot)
      .catch((err: unknown) => {
        // Only persisting failed: the entry already moved in memory (the router reads that),
        // and the next save writes it.
        logger.error(
          { model: slot.model, environment: slot.environment, err: describeError(err) },
          'canary watch analysis failed',
        );
        return 'again' as const;
      })
      .then((verdict) => {
        // Unwatched, replaced or closed meanwhile: whoever did that owns the canary now.
        if (slots.get(key) !== slot) return;
        if (verdict === 'stop') slots.delete(key);
        else schedule(slot);
      });
    inFlight.add(run);
    void run.finally(() => inFlight.delete(run));
  }

  return {
    watch(model, environment) {
      const key = keyOf(model, environment);
      if (closed || slots.has(key)) return;
      const last = deployments.entry(model, environment)?.rollout?.analyses.at(-1);
      const lastAt = last ? Date.parse(last.at) : Number.NaN;
      const slot: Slot = {
        key,
        model,
        environment,
        since: Number.isFinite(lastAt) ? lastAt : clock.now(),
        timer: undefined,
        abort: new AbortController(),
      };
      slots.set(key, slot);
      schedule(slot);
      logger.info({ model, environment, intervalMs }, 'watching a held canary');
    },
    unwatch(model, environment) {
      const key = keyOf(model, environment);
      const slot = slots.get(key);
      if (!slot) return;
      if (slot.timer !== undefined) timers.clearTimeout(slot.timer);
      slot.abort.abort();
      slots.delete(key);
    },
    watching: () => [...slots.values()].map(({ model, environment }) => ({ model, environment })),
    async close() {
      closed = true;
      for (const slot of slots.values()) {
        if (slot.timer !== undefined) timers.clearTimeout(slot.timer);
        slot.abort.abort();
      }
      slots.clear();
      await Promise.all([...inFlight]);
    },
  };
}

export function validateFailuresToRollback(n: number): string | undefined {
  return Number.isInteger(n) && n >= 1 ? undefined : `failuresToRollback must be an integer >= 1, got ${n}`;
}

export function validateWatchInterval(intervalMs: number): string | undefined {
  return Number.isFinite(intervalMs) && intervalMs >= 1
    ? undefined
    : `the canary watch interval must be a number of ms >= 1, got ${intervalMs}`;
}
