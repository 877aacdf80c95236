// The backends the agent acts on, opened from the config. Today that is the embedded lab
// under <home>/lab; adapters to real stacks (MLflow, Prometheus, KServe) plug in here, so
// no command or server opens a backend itself.
import { join } from 'node:path';
import type { Backends, ModelRegistry } from '../../tools/index.js';
import { openLocalLab, openReadOnlyLab, type LocalLab } from '../backends/local/index.js';
import { createLocalRegistry } from '../backends/local/registry.js';
import { systemClock } from '../clock.js';
import { loadContracts } from '../contracts/index.js';
import type { Logger } from '../logger.js';
import type { Config } from './config.js';

/** What a caller (the demo, a test) insists on over the config: e.g. a fresh lab home, quick canary steps. */
export type LabOverrides = Omit<Parameters<typeof openLocalLab>[0], 'config' | 'logger'> & { home?: string };

export interface OpenedBackends {
  backends: Backends;
  /** The embedded lab behind them (the demo seeds and serves models on it). */
  lab: LocalLab;
  close(): Promise<void>;
}

export async function openBackends(config: Config, logger: Logger, overrides: LabOverrides = {}): Promise<OpenedBackends> {
  const { home, ...labOptions } = overrides;
  const lab = await openLocalLab({ config: home ? { ...config, home } : config, logger, ...labOptions });
  return { backends: lab, lab, close: () => lab.close() };
}

/** The backends as another process left them, read and never changed (runs show, policy explain); `home` reads another data dir. */
export async function openBackendsForReading(config: Config, home = config.home): Promise<{ backends: Backends; where: string }> {
  const lab = openReadOnlyLab({ home, contracts: await loadContracts(config.contracts.files) });
  return { backends: lab, where: `the lab under ${lab.root}` };
}

/** The model registry alone, for the evidence a bundle carries about the models a run touched. */
export function openRegistryForReading(config: Config): ModelRegistry {
  return createLocalRegistry({ dir: join(config.home, 'lab', 'registry'), clock: systemClock });
}
