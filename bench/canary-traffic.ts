// Traffic for bench/canary-analysis.ts through the lab's real serving path minus the
// socket: the real router picks the version, the real trained model scores the row, the
// real serving stats record the request and take its label back, as the model server and
// /feedback do. Over HTTP the bench would take an hour; the windows would be the same.
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { CreditRow } from '../src/backends/local/credit-schema.js';
import type { CanaryThresholds } from '../src/backends/local/canary-analysis.js';
import type { Timers } from '../src/backends/local/canary-watch.js';
import { createLocalDeployer } from '../src/backends/local/deployer.js';
import { score, type ModelArtifact } from '../src/backends/local/model-artifact.js';
import { createRandom } from '../src/backends/local/random.js';
import type { LocalRegistry } from '../src/backends/local/registry.js';
import { createServingStats, type ServingStats } from '../src/backends/local/serving-stats.js';
import { createTrafficRouter, type SplitSource } from '../src/backends/local/traffic-router.js';
import { silentLogger } from '../src/logger.js';

export const MODEL = 'credit-risk';
const ENV = 'production' as const;
export const MINUTE = 60_000;

/** A clock the bench moves: an hour of held canary takes no hour. */
export function benchClock(start = Date.parse('2026-01-01T00:00:00Z')) {
  let t = start;
  return { now: () => t, advance: (ms: number) => void (t += ms) };
}
export type BenchClock = ReturnType<typeof benchClock>;

/** The watch's timers, fired by the bench once it has served a window of traffic. */
function benchTimers(): Timers & { pending(): number; fire(): void } {
  const set = new Map<number, () => void>();
  let id = 0;
  return {
    setTimeout: (callback) => (set.set(++id, callback), id),
    clearTimeout: (handle) => void set.delete(handle as number),
    pending: () => set.size,
    fire() {
      const due = [...set.values()];
      set.clear();
      for (const callback of due) callback();
    },
  };
}

export interface Feeder {
  /** Serves requests until the canary answered `canaryRequests` of them; labels every prediction at once when `labels`. */
  window(canaryRequests: number, labels: boolean): void;
}

export function createFeeder(options: {
  stats: ServingStats;
  splits: SplitSource;
  artifacts: Map<string, ModelArtifact>;
  rows: () => CreditRow;
  seed: number;
}): Feeder {
  const random = createRandom(options.seed);
  const router = createTrafficRouter({ splits: options.splits, random: () => random.next() });
  return {
    window(canaryRequests, labels) {
      let canary = 0;
      while (canary < canaryRequests) {
        const route = router.route(MODEL, ENV)!;
        if (route.role === 'canary') canary++;
        // The model must not see the outcome it is asked to predict.
        const { default: truth, ...row } = options.rows();
        const started = performance.now();
        const s = score(options.artifacts.get(route.version)!, row);
        const ok = Number.isFinite(s);
        const id = randomUUID();
        options.stats.recordRequest({
          model: MODEL,
          environment: ENV,
          version: route.version,
          ok,
          latencyMs: performance.now() - started,
          predictions: ok ? [{ id, score: s, row }] : [],
        });
        if (ok && labels) options.stats.recordFeedback(id, Number(truth) === 1 ? 1 : 0);
      }
    },
  };
}

export interface HeldRun {
  /** Analyses made, the step's included. */
  analyses: number;
  rolledBack: boolean;
  /** Watch analyses that failed without rolling back (the history records each). */
  failedHeld: number;
}

/**
 * One rollout through the real lab deployer: serve v1, canary v2 to `share` (one step and
 * its analysis), then hold it there and let the real watch analyse a window of traffic a
 * minute until it rolls back or `maxAnalyses` were made.
 */
export async function heldRollout(options: {
  dir: string;
  registry: LocalRegistry;
  artifacts: Map<string, ModelArtifact>;
  rows: () => CreditRow;
  share: number;
  labels: boolean;
  thresholds: CanaryThresholds;
  maxAnalyses: number;
  seed: number;
  /** Once this many analyses were made, traffic comes from `shift.rows` (an upstream change while the canary is held). */
  shift?: { after: number; rows: () => CreditRow };
}): Promise<HeldRun> {
  const clock = benchClock();
  const timers = benchTimers();
  // Rings a little over two windows long: older traffic is never read again.
  const capacity = Math.ceil((2.5 * options.thresholds.minRequestsPerStep * 100) / options.share);
  const stats = createServingStats({ clock, maxRequests: capacity, maxPredictions: capacity });
  const deployer = await createLocalDeployer({
    dir: options.dir,
    artifacts: options.registry,
    stats,
    clock,
    logger: silentLogger,
    steps: [options.share, 100],
    analysis: options.thresholds,
    pollMs: 1,
    watchIntervalMs: MINUTE,
    timers,
  });
  let analyses = 0;
  const { shift } = options;
  const rows = () => (shift && analyses >= shift.after ? shift.rows() : options.rows());
  const feeder = createFeeder({ stats, splits: deployer, artifacts: options.artifacts, rows, seed: options.seed });
  const window = () => {
    clock.advance(1);
    feeder.window(options.thresholds.minRequestsPerStep, options.labels);
    clock.advance(MINUTE - 1);
  };
  try {
    await deployer.serve(MODEL, ENV, '1', 'bench');
    const stepping = deployer.deployCanary({
      model: MODEL,
      version: '2',
      environment: ENV,
      targetPercent: options.share,
      requestedBy: 'bench',
      timeoutMs: 1e12,
    });
    while (deployer.currentSplit(MODEL, ENV)!.canaryPercent !== options.share)
      await new Promise((r) => setImmediate(r));
    window();
    const stepped = await stepping;
    analyses = 1;
    let failedHeld = 0;
    if (stepped.status === 'rolled_back') return { analyses, rolledBack: true, failedHeld };
    if (stepped.status !== 'paused') throw new Error(`the step ended ${stepped.status}: ${stepped.reason}`);
    while (analyses < options.maxAnalyses) {
      window();
      timers.fire();
      analyses++;
      // The watch re-arms once its analysis is on disk, or stops after rolling back.
      while (timers.pending() === 0 && deployer.watching().length > 0) await new Promise((r) => setTimeout(r, 1));
      const rollout = deployer.getRollout(MODEL, ENV)!;
      if (rollout.status === 'rolled_back') return { analyses, rolledBack: true, failedHeld };
      if (!rollout.analyses.at(-1)!.passed) failedHeld++;
    }
    return { analyses, rolledBack: false, failedHeld };
  } finally {
    await deployer.close();
  }
}
