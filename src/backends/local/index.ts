// The local lab: the embedded registry, trainer, deployer with its model server, and data
// checks, all under <home>/lab. It is what the agent acts on when no MLflow or
// Prometheus is configured, and what `npm start` runs an incident on.
import { join } from 'node:path';
import type { Registry } from 'prom-client';
import type { Backends, Deployer } from '../../../tools/index.js';
import { systemClock, type Clock } from '../../clock.js';
import { loadContracts, type ContractSet } from '../../contracts/index.js';
import type { Logger } from '../../logger.js';
import type { CanaryAnalyzer } from '../canary-analyzer.js';
import { defaultContractFiles } from '../../paths.js';
import type { CanaryThresholds } from './canary-analysis.js';
import type { QualityGates } from './evaluation.js';
import type { Timers } from './canary-watch.js';
import { createDataCheckStore } from './data-check-store.js';
import { readDataset } from './dataset-store.js';
import { createLocalDataQuality } from './data-quality.js';
import { createLocalDeployer, type LocalDeployer } from './deployer.js';
import { createModelServer, type ModelServer, type ServingFaults } from './model-server.js';
import { createLocalRegistry, type LabModelStore, type LocalRegistry } from './registry.js';
import { createServingStats, type ServingStats } from './serving-stats.js';
import { createTrafficRouter } from './traffic-router.js';
import { createLocalTrainer, type LocalTrainer } from './trainer.js';

/** The lab as `serve` and a worker act on it: with its own deployer, or the one of a running `lab up`. */
export interface LabBackends extends Backends {
  /** The lab's own registry (empty when versions live in another registry, see `models`). */
  registry: LocalRegistry;
  /** Where the lab's trainer registers versions and its deployer reads them: `registry`, or MLflow's. */
  models: LabModelStore;
  trainer: LocalTrainer;
  /** The data contracts the lab's data checks and trainer hold datasets to. */
  contracts: ContractSet;
  dirs: { root: string; datasets: string; registry: string; jobs: string; deployments: string; dataChecks: string };
  close(): Promise<void>;
}

export interface LocalLab extends LabBackends {
  deployer: LocalDeployer;
  stats: ServingStats;
  /** Starts the HTTP model server (POST /predict, POST /feedback, GET /metrics). */
  serve(options?: {
    host?: string;
    port?: number;
    faults?: ServingFaults;
    metricsRegistry?: Registry;
  }): Promise<ModelServer>;
  /** Stops watching held canaries, then closes the model servers and the trainer. */
  close(): Promise<void>;
}

/** Canary analysis for the lab; the demo shortens the waits. */
export const LAB_CANARY_ANALYSIS: CanaryThresholds = {
  minRequestsPerStep: 100,
  maxErrorRateDelta: 0.01,
  maxP99LatencyRatio: 3,
  maxScoreShiftPsi: 0.25,
  minAccuracyDelta: -0.03,
  stepTimeoutMs: 5 * 60_000,
  // Scoring takes microseconds; below 25 ms a slower p99 is scheduler jitter on a busy
  // machine, not a regression (the offline latency gate is 50 ms).
  latencyFloorMs: 25,
};

/** What the lab reads of the operator's settings (the app's config has this shape). */
export interface LabSettings {
  /** The data directory: the lab lives under <home>/lab. */
  home: string;
  qualityGates: QualityGates;
  lab?: {
    canary?: Partial<Pick<CanaryThresholds, 'minRequestsPerStep' | 'stepTimeoutMs'>> & {
      watchIntervalMs?: number;
      steps?: number[];
    };
  };
  /** Data contract files; default the shipped ones. */
  contracts?: { files: string[] };
}

/**
 * Where the lab's trainer registers and its deployer, model server and data checks read
 * versions, given the lab's root; default the lab's own registry (`lab.registry`).
 */
export type LabModelsFor = (labRoot: string) => LabModelStore;

/**
 * The lab whose deployer is another process's (a running `lab up`, through
 * lab-deployer-link.ts): no deployer is opened here, so nothing here watches or steps a canary.
 */
export async function openLabBackends(options: {
  config: LabSettings;
  logger: Logger;
  deployer: Deployer;
  clock?: Clock;
  models?: LabModelsFor;
}): Promise<LabBackends> {
  const clock = options.clock ?? systemClock;
  const parts = await openLabParts(options.config, clock, options.logger, options.deployer, options.models);
  return { ...parts, deployer: options.deployer, close: () => parts.trainer.close() };
}

async function openLabParts(
  config: LabSettings,
  clock: Clock,
  logger: Logger,
  splits: Pick<Deployer, 'getSplit'>,
  modelsFor?: LabModelsFor,
) {
  const root = join(config.home, 'lab');
  const dirs = {
    root,
    datasets: join(root, 'datasets'),
    registry: join(root, 'registry'),
    jobs: join(root, 'jobs'),
    deployments: join(root, 'deployments'),
    dataChecks: join(root, 'data-checks'),
  };
  // A broken contract file stops the start here, with file:line, as a broken policy does.
  const contracts = await loadContracts(config.contracts?.files ?? defaultContractFiles);
  const registry = createLocalRegistry({ dir: dirs.registry, clock });
  const models: LabModelStore = modelsFor ? modelsFor(root) : registry;
  const dataChecks = createDataCheckStore(dirs.dataChecks);
  const trainer = createLocalTrainer({
    registry: models,
    datasetsDir: dirs.datasets,
    jobsDir: dirs.jobs,
    clock,
    gates: config.qualityGates,
    contracts,
    dataChecks,
    logger,
  });
  const dataQuality = createLocalDataQuality({
    datasetsDir: dirs.datasets,
    checksDir: dirs.dataChecks,
    contracts,
    clock,
    // Prediction drift is measured with the version of the contract's model serving production now.
    scoreWith: async (model) => {
      const split = await splits.getSplit(model, 'production');
      return split
        ? { version: split.stableVersion, artifact: await models.loadArtifact(model, split.stableVersion) }
        : undefined;
    },
  });
  return { registry, models, trainer, dataQuality, contracts, dirs };
}

export async function openLocalLab(options: {
  config: LabSettings;
  logger: Logger;
  clock?: Clock;
  analysis?: Partial<CanaryThresholds>;
  /** Canary traffic steps (default 1, 5, 25, 100). */
  steps?: number[];
  /** How often a canary held at its authorised share is analysed again (default 60 s). */
  watchIntervalMs?: number;
  /** Failed analyses in a row that roll a held canary back (default 2). */
  failuresToRollback?: number;
  /** Timers for that watch; tests pass their own. */
  timers?: Timers;
  /** Judges canary steps and held canaries instead of the lab's own analysis (Prometheus, `backends.analysis: prometheus`). */
  analyzer?: CanaryAnalyzer;
  /** Where versions are registered and read (default the lab's own registry). */
  models?: LabModelsFor;
}): Promise<LocalLab> {
  const { config, logger } = options;
  const clock = options.clock ?? systemClock;
  // The operator's config first, then what the caller (the demo, a test) insists on.
  const { steps: configSteps, watchIntervalMs: configWatch, ...configAnalysis } = config.lab?.canary ?? {};
  const steps = options.steps ?? configSteps;
  // The deployer is made below; a data check reads its splits only once it exists.
  const deployerRef: { current?: LocalDeployer } = {};
  const { registry, models, trainer, dataQuality, contracts, dirs } = await openLabParts(
    config,
    clock,
    logger,
    { getSplit: (model, environment) => deployerRef.current!.getSplit(model, environment) },
    options.models,
  );
  const stats = createServingStats({ clock });
  const deployer = await createLocalDeployer({
    dir: dirs.deployments,
    artifacts: models,
    stats,
    clock,
    logger,
    analysis: { ...LAB_CANARY_ANALYSIS, ...configAnalysis, ...options.analysis },
    ...(steps ? { steps } : {}),
    watchIntervalMs: options.watchIntervalMs ?? configWatch,
    failuresToRollback: options.failuresToRollback,
    timers: options.timers,
    ...(options.analyzer ? { analyzer: options.analyzer } : {}),
  });
  deployerRef.current = deployer;
  const servers: ModelServer[] = [];

  return {
    registry,
    models,
    trainer,
    deployer,
    dataQuality,
    stats,
    contracts,
    dirs,
    async serve(serveOptions = {}) {
      const router = createTrafficRouter({ splits: deployer });
      const server = await createModelServer({
        ...serveOptions,
        artifacts: models,
        router,
        stats,
        logger,
        metricsRegistry: serveOptions.metricsRegistry,
      });
      servers.push(server);
      return server;
    },
    async close() {
      // First, so no watch analysis acts on a lab whose servers are going away.
      await deployer.close();
      await Promise.all(servers.map((s) => s.close()));
      await trainer.close();
    },
  };
}

export { readDataset };
export { writeDataset } from './dataset-store.js';
export { generateCreditRows, type CreditGeneratorOptions } from './credit-generator.js';
export { generateQuotes, QUOTE_COLUMNS, type QuoteGeneratorOptions } from './quotes-generator.js';
export { createMonitor, type Monitor } from './monitor.js';
export { createTrafficSimulator, type TrafficSimulator } from './traffic-simulator.js';
export {
  alertmanagerPayloadSchema,
  httpAlertSink,
  type AlertmanagerPayload,
  type AlertSink,
} from './alertmanager-payload.js';
export type { ModelServer } from './model-server.js';
export { DEFAULT_FAILURES_TO_ROLLBACK, DEFAULT_WATCH_INTERVAL_MS, type Timers } from './canary-watch.js';
export { openReadOnlyLab, type ReadOnlyLab } from './read-only-lab.js';
export type { QualityGates } from './evaluation.js';
