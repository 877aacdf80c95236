// The embedded lab as `mlops-agent lab` handles it (init, up, status, inject): the one
// command that is about the lab itself rather than acting through the chosen backends, so
// the lab is opened here, in the composition root, like every other backend.
import { labCanaryAnalyzer, labRegistryChoice } from '../backends/from-config.js';
import { openLocalLab, type LocalLab } from '../backends/local/index.js';
import type { LabRegistry } from '../backends/local/lab-up.js';
import type { Logger } from '../logger.js';
import type { Config } from './config.js';

export { seedLab } from '../backends/local/lab-seed.js';
export {
  findLabUp,
  INCIDENTS,
  LAB_UP_DEFAULTS,
  describeLabRegistry,
  startLabUp,
  type Incident,
  type LabRegistry,
  type LabUpRecord,
} from '../backends/local/lab-up.js';

/** The lab as `mlops-agent lab` opens it, with the registry it registers and reads versions in. */
export type OpenedLab = LocalLab & { serves: LabRegistry };

export async function openLab(
  config: Config,
  logger: Logger,
  options: { minRequestsPerStep?: number } = {},
): Promise<OpenedLab> {
  const { minRequestsPerStep } = options;
  // The deployer `serve` and workers act on when the lab is up: it judges canaries as `backends.analysis` says.
  const analyzer = labCanaryAnalyzer(config.backends);
  if (analyzer)
    logger.info(
      { metrics: config.backends.prometheus?.metrics.map((m) => m.name) },
      "the lab's deployer judges canaries with the Prometheus analysis templates (backends.analysis: prometheus)",
    );
  // The registry serve and workers use: `lab init` seeds it, `lab up` serves its versions (see from-config.ts).
  const registry = labRegistryChoice(config.backends);
  const lab = await openLocalLab({
    config,
    logger,
    ...(analyzer ? { analyzer } : {}),
    ...(minRequestsPerStep !== undefined ? { analysis: { minRequestsPerStep } } : {}),
    ...(registry.models ? { models: registry.models } : {}),
  });
  return { ...lab, serves: registry.serves };
}
