// The one place that turns the `backends:` settings into the ports the tools act on. The
// local lab is always opened: it checks data (no other adapter does), and serves every
// port the settings leave to it. Everything a command needs to close is closed by `close`.
import { join } from 'node:path';
import type { Backends } from '../../tools/ports.js';
import type { CanaryAnalyzer } from './canary-analyzer.js';
import type { Clock } from '../clock.js';
import { UserError } from '../errors.js';
import type { Logger } from '../logger.js';
import { createCommandTrainer } from './external/command-trainer.js';
import { createHttpTrainer } from './external/http-trainer.js';
import type { VersionOfRun } from './external/training-report.js';
import { openLocalLab, type LabBackends, type LabModelsFor, type LocalLab } from './local/index.js';
import type { LabRegistry } from './local/lab-up.js';
import { openLabOrItsLink } from './local/lab-link.js';
import { mlflowLabModels, openMlflowRegistry, type MlflowRegistry } from './mlflow/index.js';
import { createPrometheusAnalysis } from './prometheus/index.js';
import { combinationProblems, resolveRegistry, type BackendsSection } from './settings.js';

type LabSettings = Parameters<typeof openLocalLab>[0]['config'];

/** What openBackends reads: the data directory, the lab's settings and the `backends:` section. */
export type BackendSettings = LabSettings & { backends: BackendsSection };

export interface BackendDeps {
  logger: Logger;
  clock?: Clock;
  /** The agent's environment; a command trainer passes PATH, HOME, LANG and TMPDIR of it on. */
  env?: NodeJS.ProcessEnv;
  /** What a caller (the demo, a test) insists on for the lab over its settings: quick canary steps, own timers. */
  lab?: Omit<Parameters<typeof openLocalLab>[0], 'config' | 'logger'>;
  /** serve and workers: act on the lab of a running `mlops-agent lab up` when there is one (see local/lab-link.ts). */
  runningLab?: boolean;
}

/** Which adapter serves each port, as chosen (the registry's `auto` made concrete). */
export interface ChosenBackends {
  registry: 'local' | 'mlflow';
  analysis: 'local' | 'prometheus';
  deployer: 'local' | 'kserve';
  trainer: 'local' | 'command' | 'http';
}

export interface OpenedBackends<Lab extends LabBackends = LocalLab> {
  backends: Backends;
  /** The local lab (data checks, and every port left to it); with `runningLab`, a running `lab up`'s. */
  lab: Lab;
  chosen: ChosenBackends;
  close(): Promise<void>;
}

export function chooseBackends(b: BackendsSection): ChosenBackends {
  return { registry: resolveRegistry(b), analysis: b.analysis, deployer: b.deployer, trainer: b.trainer };
}

/**
 * The analyzer the lab's deployer judges canaries with: Prometheus under `analysis:
 * prometheus` with `deployer: local`, else none (the lab's own analysis). `mlops-agent lab
 * up` opens its deployer with it too, so `serve` acting on a running lab is judged the same way.
 */
export function labCanaryAnalyzer(b: BackendsSection): CanaryAnalyzer | undefined {
  return b.analysis === 'prometheus' && b.deployer === 'local' ? createPrometheusAnalysis(b.prometheus) : undefined;
}

/** The registry the lab's trainer and deployer use, as the settings choose it. */
export interface LabRegistryChoice {
  /** What `lab up` records, so serve and workers with another choice are refused. */
  serves: LabRegistry;
  mlflow: MlflowRegistry | null;
  /** For openLocalLab: with MLflow, the lab's trainer registers there and its deployer serves MLflow versions whose source is a lab model file. */
  models?: LabModelsFor;
}

/**
 * The lab's registry under these settings: MLflow's when the registry resolves to mlflow,
 * else the lab's own. openBackends and `mlops-agent lab` (openLab) both open the lab with it,
 * so `lab init` seeds, and `lab up` serves, the versions serve and workers act on.
 */
export function labRegistryChoice(b: BackendsSection): LabRegistryChoice {
  if (resolveRegistry(b) !== 'mlflow') return { serves: { kind: 'local' }, mlflow: null };
  const mlflow = openMlflowRegistry(b.mlflow);
  return {
    serves: { kind: 'mlflow', trackingUri: b.mlflow.trackingUri! },
    mlflow,
    models: (labRoot: string) => mlflowLabModels(mlflow, labRoot),
  };
}

export async function openBackends(
  settings: BackendSettings,
  deps: BackendDeps & { runningLab: true },
): Promise<OpenedBackends<LabBackends>>;
export async function openBackends(
  settings: BackendSettings,
  deps: BackendDeps & { runningLab?: false },
): Promise<OpenedBackends>;
export async function openBackends(settings: BackendSettings, deps: BackendDeps): Promise<OpenedBackends<LabBackends>> {
  const { logger } = deps;
  const b = settings.backends;
  const chosen = chooseBackends(b);
  // Refused before anything is opened, so a bad choice holds nothing.
  const problems = combinationProblems(b);
  if (problems.length > 0)
    throw new UserError(`invalid configuration:\n${problems.map((p) => `  ${p}`).join('\n')}`, {
      code: 'config_invalid',
    });

  // Built before the lab: a bad template (CEL, placeholder) stops the start with nothing opened.
  const analyzer = labCanaryAnalyzer(b);
  const labRegistry = labRegistryChoice(b);
  const { mlflow } = labRegistry;
  const models = labRegistry.models ? { models: labRegistry.models } : {};
  const openOwn = () =>
    openLocalLab({
      config: settings,
      logger,
      ...(deps.clock ? { clock: deps.clock } : {}),
      ...(analyzer ? { analyzer } : {}),
      ...deps.lab,
      ...models,
    });
  const lab: LabBackends = deps.runningLab
    ? await openLabOrItsLink(settings, logger, openOwn, labRegistry)
    : await openOwn();
  const registry = mlflow ?? lab.registry;
  // A job that names the MLflow run it logged is turned into the version registered from it.
  const versionOfRun: VersionOfRun | undefined = mlflow
    ? (model, runId) => mlflow.versionOfRun(model, runId)
    : undefined;
  const dir = (name: string) => join(settings.home, 'backends', name);
  const clock = deps.clock ? { clock: deps.clock } : {};
  const closers: (() => Promise<void>)[] = [];
  const closeAll = async () => {
    for (const close of closers)
      await close().catch((err: unknown) => logger.warn({ err }, 'closing a backend failed'));
    await lab.close();
  };
  let trainer: Backends['trainer'] = lab.trainer;
  let deployer: Backends['deployer'] = lab.deployer;
  try {
    if (chosen.trainer === 'command') {
      const command = createCommandTrainer({
        settings: b.commandTrainer!,
        dir: dir('command-trainer'),
        env: deps.env ?? process.env,
        logger,
        ...clock,
        ...(versionOfRun ? { versionOfRun } : {}),
      });
      closers.push(() => command.close());
      trainer = command;
    } else if (chosen.trainer === 'http') {
      trainer = createHttpTrainer({
        settings: b.httpTrainer!,
        dir: dir('http-trainer'),
        logger,
        ...clock,
        ...(versionOfRun ? { versionOfRun } : {}),
      });
    }
    if (chosen.deployer === 'kserve') {
      // combinationProblems made sure analysis is prometheus.
      const analyzer = createPrometheusAnalysis(b.prometheus);
      // Loaded only here: the Kubernetes client takes about a second to load, which every
      // command (and every MCP session) would pay without KServe configured.
      const { createKServeDeployer } = await import('./kserve/deployer.js');
      const kserve = createKServeDeployer(b.kserve, { analyzer, registry, logger });
      closers.push(() => kserve.close());
      deployer = kserve;
    }
  } catch (err) {
    // A bad adapter setting must not leave the lab's servers and watches holding the process.
    await closeAll();
    throw err;
  }
  logger.info({ backends: chosen }, 'backends opened');

  return {
    backends: { registry, trainer, deployer, dataQuality: lab.dataQuality },
    lab,
    chosen,
    close: closeAll,
  };
}
