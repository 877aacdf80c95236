// Seeds a temp data directory with one registered credit-risk version, written by the
// real local registry, so a canary of it reaches the policy instead of failing risk assessment.
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalRegistry } from '../../../src/backends/local/registry.js';
import { systemClock } from '../../../src/clock.js';
import { versionInput } from '../../contract/model-registry.contract.js';

export async function seededHome(prefix: string): Promise<string> {
  const home = await mkdtemp(join(tmpdir(), prefix));
  const registry = createLocalRegistry({ dir: join(home, 'lab', 'registry'), clock: systemClock });
  await registry.createModel('credit-risk', 'credit risk scoring');
  await registry.registerVersion(versionInput('credit-risk', 0.86));
  return home;
}
