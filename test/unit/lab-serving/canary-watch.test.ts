import { describe, expect, it } from 'vitest';
import {
  createCanaryWatch,
  failuresInARow,
  withWatchAnalysis,
  WATCH_ANALYSES_KEPT,
  type WatchedDeployments,
} from '../../../src/backends/local/canary-watch.js';
import type { DeploymentEntry } from '../../../src/backends/local/deployment-store.js';
import { createLocalDeployer } from '../../../src/backends/local/deployer.js';
import { createServingStats } from '../../../src/backends/local/serving-stats.js';
import { UserError } from '../../../src/errors.js';
import { silentLogger } from '../../../src/logger.js';
import type { CanaryAnalysis } from '../../../tools/ports.js';
import { manualClock } from '../../support/manual-clock.js';
import { manualTimers } from '../../support/manual-timers.js';

const THRESHOLDS = {
  minRequestsPerStep: 100,
  maxErrorRateDelta: 0.01,
  maxP99LatencyRatio: 3,
  maxScoreShiftPsi: 0.25,
  minAccuracyDelta: -0.03,
  stepTimeoutMs: 60_000,
  latencyFloorMs: 25,
};

function heldEntry(analyses: CanaryAnalysis[] = []): DeploymentEntry {
  return {
    split: {
      model: 'm',
      environment: 'production',
      stableVersion: '1',
      canaryVersion: '2',
      canaryPercent: 5,
      lastKnownGoodVersion: '1',
    },
    rollout: {
      model: 'm',
      environment: 'production',
      stableVersion: '1',
      canaryVersion: '2',
      canaryPercent: 5,
      targetPercent: 5,
      status: 'paused',
      analyses,
      reason: 'reached the authorised 5%',
    },
    stepStartedAt: null,
    stepPending: false,
  };
}

const analysis = (at: string, passed = true): CanaryAnalysis => ({ at, trafficPercent: 5, passed, checks: [] });

/** A watch over one held canary, with the deployer's moves recorded instead of persisted. */
function watchOne(options: { failuresToRollback?: number; entry?: DeploymentEntry } = {}) {
  const clock = manualClock();
  const timers = manualTimers();
  const stats = createServingStats({ clock });
  let entry: DeploymentEntry | undefined = options.entry ?? heldEntry([analysis(new Date(clock.now()).toISOString())]);
  let driven = false;
  const moves: { kind: 'commit' | 'rollback'; by: string; reason: string; entry: DeploymentEntry }[] = [];
  const deployments: WatchedDeployments = {
    entry: () => entry,
    driven: () => driven,
    async commit(_m, _e, next, record) {
      entry = next;
      moves.push({ kind: 'commit', by: record.by, reason: record.reason, entry: next });
    },
    async rollBackTo(_m, _e, next, by, reason) {
      entry = {
        ...next,
        split: { ...next.split, canaryVersion: null, canaryPercent: 0 },
        rollout: { ...next.rollout!, status: 'rolled_back', reason },
      };
      moves.push({ kind: 'rollback', by, reason, entry });
    },
  };
  const watch = createCanaryWatch({
    deployments,
    stats,
    thresholds: THRESHOLDS,
    intervalMs: 1_000,
    failuresToRollback: options.failuresToRollback,
    clock,
    timers,
    logger: silentLogger,
  });
  const serve = (version: string, n: number, ok = true) => {
    for (let i = 0; i < n; i++)
      stats.recordRequest({ model: 'm', environment: 'production', version, ok, latencyMs: 0.1, predictions: [] });
  };
  /** Fires the due timer and lets the analysis finish. */
  const tick = async () => {
    timers.fireAll();
    await new Promise((r) => setImmediate(r));
  };
  /** One window of traffic: 120 canary requests, 30 of them failed when `failing`, then its analysis. */
  const window = async (failing: boolean) => {
    clock.advance(1);
    serve('2', failing ? 90 : 120);
    if (failing) serve('2', 30, false);
    serve('1', 1_000);
    // The analysis reads from its own time on next: served traffic must be older than that.
    clock.advance(1);
    await tick();
  };
  return {
    clock,
    timers,
    watch,
    moves,
    serve,
    tick,
    window,
    entry: () => entry,
    drive: (on: boolean) => (driven = on),
  };
}

describe('the canary watch', () => {
  it('waits through windows with too little canary traffic, then analyses all of it at once', async () => {
    const w = watchOne();
    w.watch.watch('m', 'production');
    w.clock.advance(1);
    w.serve('2', 60);
    w.serve('1', 1_000);
    await w.tick();
    expect(w.moves).toEqual([]);
    expect(w.timers.pending()).toBe(1);
    w.serve('2', 60);
    await w.tick();
    expect(w.moves).toHaveLength(1);
    const recorded = w.moves[0]!;
    expect(recorded).toMatchObject({ kind: 'commit', by: 'canary-watch', reason: 'analysis passed while held at 5%' });
    expect(recorded.entry.rollout!.analyses.at(-1)!.checks.find((c) => c.check === 'canary_requests')).toMatchObject({
      canary: 120,
      passed: true,
    });
    expect(w.timers.pending()).toBe(1);
  });

  it('records a first failed analysis and looks again; a second failure in a row rolls back as canary-analysis and stops watching', async () => {
    const w = watchOne();
    w.watch.watch('m', 'production');
    await w.window(true);
    expect(w.moves).toEqual([
      expect.objectContaining({
        kind: 'commit',
        by: 'canary-watch',
        reason: 'analysis failed while held at 5% (1 of 2 in a row): error_rate',
      }),
    ]);
    expect(w.entry()!.rollout!.analyses.at(-1)).toMatchObject({ passed: false, trafficPercent: 5 });
    expect(w.entry()!.rollout!.status).toBe('paused');
    expect(w.timers.pending()).toBe(1);

    await w.window(true);
    expect(w.moves.at(-1)).toMatchObject({
      kind: 'rollback',
      by: 'canary-analysis',
      reason: 'canary analysis failed at 5% while held: error_rate (2 of 2 in a row)',
    });
    // Both failures stay in the rollout, the one that rolled back last.
    expect(
      w
        .entry()!
        .rollout!.analyses.slice(-2)
        .map((a) => a.passed),
    ).toEqual([false, false]);
    expect(w.timers.pending()).toBe(0);
    expect(w.watch.watching()).toEqual([]);
  });

  it('starts counting again after a passing analysis', async () => {
    const w = watchOne();
    w.watch.watch('m', 'production');
    await w.window(true);
    await w.window(false);
    await w.window(true);
    expect(w.moves.map((m) => m.kind)).toEqual(['commit', 'commit', 'commit']);
    expect(w.moves.at(-1)!.reason).toBe('analysis failed while held at 5% (1 of 2 in a row): error_rate');
    await w.window(true);
    expect(w.moves.at(-1)).toMatchObject({ kind: 'rollback', by: 'canary-analysis' });
  });

  it('rolls back on the first failed analysis when failuresToRollback is 1', async () => {
    const w = watchOne({ failuresToRollback: 1 });
    w.watch.watch('m', 'production');
    await w.window(true);
    expect(w.moves).toEqual([
      expect.objectContaining({
        kind: 'rollback',
        by: 'canary-analysis',
        reason: 'canary analysis failed at 5% while held: error_rate (1 of 1 in a row)',
      }),
    ]);
  });

  it('remembers a failed analysis across a restart: the next failure rolls back', async () => {
    const before = watchOne();
    before.watch.watch('m', 'production');
    await before.window(true);
    await before.watch.close();
    // A new process reads the entry the old one saved.
    const after = watchOne({ entry: before.entry() });
    after.clock.advance(60_000);
    after.watch.watch('m', 'production');
    await after.window(true);
    expect(after.moves).toEqual([
      expect.objectContaining({ kind: 'rollback', reason: expect.stringContaining('(2 of 2 in a row)') }),
    ]);
  });

  it('stops without a look when a stepping loop drives the canary', async () => {
    const w = watchOne();
    w.watch.watch('m', 'production');
    w.clock.advance(1);
    w.serve('2', 90);
    w.serve('2', 30, false);
    w.drive(true);
    await w.tick();
    expect(w.moves).toEqual([]);
    expect(w.watch.watching()).toEqual([]);
    expect(w.timers.pending()).toBe(0);
  });

  it('clears its timers on close and watches nothing afterwards', async () => {
    const w = watchOne();
    w.watch.watch('m', 'production');
    expect(w.timers.pending()).toBe(1);
    await w.watch.close();
    expect(w.timers.pending()).toBe(0);
    w.watch.watch('m', 'production');
    expect(w.timers.pending()).toBe(0);
    expect(w.watch.watching()).toEqual([]);
  });
});

describe('watch analyses in a rollout', () => {
  it('keeps every step analysis and only the newest passing watch analyses', () => {
    const steps = [analysis('step-1'), analysis('step-5')];
    let entry = heldEntry(steps);
    for (let i = 0; i < WATCH_ANALYSES_KEPT + 4; i++) entry = withWatchAnalysis(entry, analysis(`watch-${i}`));
    const ats = entry.rollout!.analyses.map((a) => a.at);
    expect(ats).toEqual([
      'step-1',
      'step-5',
      ...Array.from({ length: WATCH_ANALYSES_KEPT }, (_, k) => `watch-${k + 4}`),
    ]);
    const failed = withWatchAnalysis(entry, analysis('watch-failed', false));
    expect(failed.rollout!.analyses.map((a) => a.at)).toEqual([...ats, 'watch-failed']);
  });

  it('counts the failed watch analyses at the end of a rollout, and no step analysis', () => {
    let entry = heldEntry([analysis('step-5', false)]);
    expect(failuresInARow(entry)).toBe(0);
    entry = withWatchAnalysis(entry, analysis('watch-0', false));
    expect(failuresInARow(entry)).toBe(1);
    entry = withWatchAnalysis(entry, analysis('watch-1', false));
    expect(failuresInARow(entry)).toBe(2);
    entry = withWatchAnalysis(entry, analysis('watch-2'));
    expect(failuresInARow(entry)).toBe(0);
    entry = withWatchAnalysis(entry, analysis('watch-3', false));
    expect(failuresInARow(entry)).toBe(1);
  });

  it('refuses a watch interval that is not a positive number of ms, and a failure count that is not a positive integer', async () => {
    const options = {
      dir: '/nonexistent',
      artifacts: { getVersion: async () => undefined, setAlias: async () => undefined },
      stats: createServingStats({ clock: manualClock() }),
      clock: manualClock(),
      logger: silentLogger,
      analysis: THRESHOLDS,
    };
    await expect(createLocalDeployer({ ...options, watchIntervalMs: 0 })).rejects.toThrow(UserError);
    await expect(createLocalDeployer({ ...options, watchIntervalMs: Number.NaN })).rejects.toMatchObject({
      code: 'config_invalid',
      message: /watch interval/,
    });
    await expect(createLocalDeployer({ ...options, failuresToRollback: 0 })).rejects.toMatchObject({
      code: 'config_invalid',
      message: /failuresToRollback/,
    });
    await expect(createLocalDeployer({ ...options, failuresToRollback: 1.5 })).rejects.toMatchObject({
      code: 'config_invalid',
      message: /failuresToRollback/,
    });
  });
});
