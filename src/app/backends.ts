// The backends the agent acts on, opened from the config: the `backends:` section chooses
// an adapter per port (src/backends/from-config.ts), beside the embedded lab under
// <home>/lab. No command or server opens a backend itself.
import { join } from 'node:path';
import type { Backends, ModelRegistry } from '../../tools/index.js';
import {
  labRegistryChoice,
  openBackends as openBackendsFromSettings,
  type BackendDeps,
  type OpenedBackends,
} from '../backends/from-config.js';
import { openReadOnlyLab, type LabBackends } from '../backends/local/index.js';
import { describeLabRegistry } from '../backends/local/lab-up.js';
import { createLocalRegistry } from '../backends/local/registry.js';
import { systemClock } from '../clock.js';
import { loadContracts } from '../contracts/index.js';
import type { Logger } from '../logger.js';
import type { Config } from './config.js';

/** What a caller (the demo, a test) insists on over the config: e.g. a fresh lab home, quick canary steps. */
export type LabOverrides = NonNullable<BackendDeps['lab']> & { home?: string };

export type { OpenedBackends };

export async function openBackends(
  config: Config,
  logger: Logger,
  overrides: LabOverrides = {},
): Promise<OpenedBackends> {
  const { home, ...lab } = overrides;
  return openBackendsFromSettings(home ? { ...config, home } : config, { logger, env: process.env, lab });
}

/** For serve and workers: the lab of a running `mlops-agent lab up` on this home when there is one. */
export async function openBackendsOnRunningLab(config: Config, logger: Logger): Promise<OpenedBackends<LabBackends>> {
  return openBackendsFromSettings(config, { logger, env: process.env, runningLab: true });
}

/**
 * The backends as another process left them, read and never changed (runs show, policy
 * explain); `home` reads another data dir. Models are read from the configured registry
 * (MLflow when chosen), as the agent that acted on them read them.
 */
export async function openBackendsForReading(
  config: Config,
  home = config.home,
): Promise<{ backends: Backends; where: string }> {
  const lab = openReadOnlyLab({ home, contracts: await loadContracts(config.contracts.files) });
  const { mlflow, serves } = labRegistryChoice(config.backends);
  if (!mlflow) return { backends: lab, where: `the lab under ${lab.root}` };
  return {
    backends: { ...lab, registry: mlflow },
    where: `the lab under ${lab.root}, models in ${describeLabRegistry(serves)}`,
  };
}

/** The model registry alone, for the evidence a bundle carries about the models a run touched. */
export function openRegistryForReading(config: Config): ModelRegistry {
  return (
    labRegistryChoice(config.backends).mlflow ??
    createLocalRegistry({ dir: join(config.home, 'lab', 'registry'), clock: systemClock })
  );
}
