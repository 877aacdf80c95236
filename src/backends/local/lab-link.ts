// Which lab `serve` and a worker act on: while `mlops-agent lab up` runs on the same home,
// its deployer (the one its model servers route by and whose analysis reads their traffic)
// through lab-deployer-link.ts; otherwise a lab of their own, as before.
import { UserError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import { openLabBackends, type LabBackends, type LabModelsFor, type LabSettings } from './index.js';
import { createDeployerLink } from './lab-deployer-link.js';
import { findLabUp } from './lab-up.js';

export async function openLabOrItsLink(
  config: LabSettings,
  logger: Logger,
  openOwn: () => Promise<LabBackends>,
  /** Another registry than the lab's (MLflow), which a running `lab up` does not serve from. */
  models?: LabModelsFor,
): Promise<LabBackends> {
  const up = await findLabUp(config.home);
  if (!up) return openOwn();
  if (models)
    throw new UserError(
      `\`mlops-agent lab up\` runs on ${config.home} (pid ${up.pid}) and serves the lab's own registry, but the registry is mlflow: stop \`lab up\` (serve and workers then run the lab's deployer on MLflow's versions themselves), or set backends.registry to local`,
      { code: 'config_invalid' },
    );
  logger.info(
    { lab: up.control, pid: up.pid, servers: up.servers },
    'the lab is up: deployments go through its deployer, and its model servers carry the traffic',
  );
  return openLabBackends({ config, logger, deployer: createDeployerLink({ url: up.control, token: up.token }) });
}
