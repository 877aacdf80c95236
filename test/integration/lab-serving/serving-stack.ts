// The lab's serving pieces wired together over real HTTP: registry, deployer, router,
// stats and model server, for the integration tests.
import { join } from 'node:path';
import { Registry } from 'prom-client';
import type { Clock } from '../../../src/clock.js';
import type { CanaryAnalyzer } from '../../../src/backends/canary-analyzer.js';
import { silentLogger } from '../../../src/logger.js';
import type { CanaryThresholds } from '../../../src/backends/local/canary-analysis.js';
import type { Timers } from '../../../src/backends/local/canary-watch.js';
import { createLocalDeployer, type LocalDeployer } from '../../../src/backends/local/deployer.js';
import { createModelServer, type ModelServer } from '../../../src/backends/local/model-server.js';
import { createServingStats, type ServingStats } from '../../../src/backends/local/serving-stats.js';
import { createTrafficRouter } from '../../../src/backends/local/traffic-router.js';
import type { Lab } from './lab-fixture.js';

export const TEST_THRESHOLDS: CanaryThresholds = {
  minRequestsPerStep: 300,
  maxErrorRateDelta: 0.01,
  // Generous on latency: two busy cores make sub-millisecond timings jumpy.
  maxP99LatencyRatio: 5,
  latencyFloorMs: 25,
  maxScoreShiftPsi: 0.2,
  minAccuracyDelta: -0.05,
  minLabelsPerStep: 100,
  stepTimeoutMs: 30_000,
};

export interface Stack {
  deployer: LocalDeployer;
  stats: ServingStats;
  server: ModelServer;
  metrics: Registry;
  close(): Promise<void>;
}

export interface StackOptions {
  steps?: number[];
  analysis?: Partial<CanaryThresholds>;
  deployDir?: string;
  /** How often a held canary is analysed; long by default so only the watch tests see it act. */
  watchIntervalMs?: number;
  timers?: Timers;
  /** Judges steps and held canaries instead of the lab's analysis (the Prometheus analyzer). */
  analyzer?: CanaryAnalyzer;
}

export async function createStack(lab: Lab, clock: Clock, options: StackOptions = {}): Promise<Stack> {
  const stats = createServingStats({ clock });
  const deployer = await createLocalDeployer({
    dir: options.deployDir ?? join(lab.dir, 'deployments'),
    artifacts: lab.registry,
    stats,
    clock,
    logger: silentLogger,
    steps: options.steps ?? [10, 50, 100],
    analysis: { ...TEST_THRESHOLDS, ...options.analysis },
    pollMs: 20,
    watchIntervalMs: options.watchIntervalMs ?? 10 * 60_000,
    timers: options.timers,
    ...(options.analyzer ? { analyzer: options.analyzer } : {}),
  });
  const metrics = new Registry();
  const server = await createModelServer({
    artifacts: lab.registry,
    router: createTrafficRouter({ splits: deployer }),
    stats,
    logger: silentLogger,
    metricsRegistry: metrics,
  });
  let closing: Promise<void> | undefined;
  return {
    deployer,
    stats,
    server,
    metrics,
    // Tests that restart a stack close it themselves; afterEach closing it again is harmless.
    close: () =>
      (closing ??= (async () => {
        await deployer.close();
        await server.close();
      })()),
  };
}
