// Which lab `serve` and a worker act on: while `mlops-agent lab up` runs on the same home,
// its deployer (the one its model servers route by and whose analysis reads their traffic)
// through lab-deployer-link.ts; otherwise a lab of their own, as before.
import { UserError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import { openLabBackends, type LabBackends, type LabModelsFor, type LabSettings } from './index.js';
import { createDeployerLink } from './lab-deployer-link.js';
import { describeLabRegistry, findLabUp, sameLabRegistry, type LabRegistry } from './lab-up.js';

export async function openLabOrItsLink(
  config: LabSettings,
  logger: Logger,
  openOwn: () => Promise<LabBackends>,
  /** This process's registry: it must be the one the running `lab up` serves from. */
  registry: { serves: LabRegistry; models?: LabModelsFor },
): Promise<LabBackends> {
  const up = await findLabUp(config.home);
  if (!up) return openOwn();
  // A record of an older `lab up` names no registry: that one served the lab's own.
  const upServes = up.registry ?? { kind: 'local' };
  if (!sameLabRegistry(upServes, registry.serves))
    throw new UserError(
      `\`mlops-agent lab up\` runs on ${config.home} (pid ${up.pid}) and serves versions from ${describeLabRegistry(upServes)}, but this process's registry is ${describeLabRegistry(registry.serves)}: give serve and workers the same backends.registry (and MLflow tracking URI) as \`lab up\`, or stop \`lab up\``,
      { code: 'config_invalid' },
    );
  logger.info(
    { lab: up.control, pid: up.pid, servers: up.servers, registry: upServes },
    'the lab is up: deployments go through its deployer, and its model servers carry the traffic',
  );
  return openLabBackends({
    config,
    logger,
    deployer: createDeployerLink({ url: up.control, token: up.token }),
    ...(registry.models ? { models: registry.models } : {}),
  });
}
