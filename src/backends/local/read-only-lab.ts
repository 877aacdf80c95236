// The lab under a data directory, opened to look and never to act: for commands that read
// the current state while `serve` or a worker may be running on it (`policy explain`
// computing risk as the gate would, `runs show` printing what serves). It starts nothing
// (no canary watch, no trainer), writes nothing, and every port method that would change
// something refuses.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type {
  Backends,
  Deployer,
  Environment,
  KeyedWork,
  Rollout,
  Shadow,
  Trainer,
  TrafficSplit,
  TrainingJob,
} from '../../../tools/index.js';
import { systemClock, type Clock } from '../../clock.js';
import type { ContractSet } from '../../contracts/index.js';
import { UserError } from '../../errors.js';
import { createLocalDataQuality } from './data-quality.js';
import { lookupKey } from './deployment-keys.js';
import type { DeploymentState, StoredShadow } from './deployment-store.js';
import { createJobStore } from './job-store.js';
import { jobIdForKey } from './trainer.js';
import { createLocalRegistry } from './registry.js';

export interface ReadOnlyLab extends Backends {
  /** `<home>/lab`, for messages. */
  root: string;
}

/** A stored shadow as read from the file: an ended one with its last analysis, a running one with none known here. */
function readOnlyShadow({ finalAnalysis, ...shadow }: StoredShadow): Shadow {
  return { ...shadow, analysis: shadow.status === 'ended' ? finalAnalysis : null };
}

function refuse(what: string): never {
  throw new UserError(
    `the lab is open read-only here: ${what} is not available (use serve, a worker or the MCP server to act)`,
  );
}

/** `contracts`: the data contracts in force, so a stored verdict is read under the same contract the gate uses. */
export function openReadOnlyLab(options: { home: string; contracts: ContractSet; clock?: Clock }): ReadOnlyLab {
  const clock = options.clock ?? systemClock;
  const root = join(options.home, 'lab');
  const full = createLocalRegistry({ dir: join(root, 'registry'), clock });
  const registry: Backends['registry'] = {
    listModels: () => full.listModels(),
    listVersions: (model) => full.listVersions(model),
    getVersion: (model, version) => full.getVersion(model, version),
    resolveAlias: (model, alias) => full.resolveAlias(model, alias),
    aliasHistory: (model) => full.aliasHistory(model),
    setAlias: () => refuse('moving an alias'),
  };

  // Read fresh on every look: another process may move traffic meanwhile.
  const stateFile = join(root, 'deployments', 'deployments.json');
  async function readState(): Promise<DeploymentState | undefined> {
    let text: string;
    try {
      text = await readFile(stateFile, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    return JSON.parse(text) as DeploymentState;
  }
  async function entry(model: string, environment: Environment) {
    return (await readState())?.entries[`${model}\u0000${environment}`];
  }
  const deployer: Deployer = {
    getSplit: async (model, environment): Promise<TrafficSplit | undefined> => (await entry(model, environment))?.split,
    rollout: async (model, environment): Promise<Rollout | undefined> =>
      (await entry(model, environment))?.rollout ?? undefined,
    waitForRollout: async (model, environment) => (await entry(model, environment))?.rollout ?? undefined,
    deployCanary: async () => refuse('deploy_canary'),
    startCanary: async () => refuse('deploy_canary'),
    rollback: async () => refuse('rollback'),
    startShadow: async () => refuse('deploy_shadow'),
    endShadow: async () => refuse('end_shadow'),
    // The shadows as stored; a running one's analysis lives with the serving stats of the process that serves.
    shadows: async (model, environment) => (await shadowsOf(model, environment)).map(readOnlyShadow),
    // What a key did, as the deployer's state file says (see LocalDeployer.lookup).
    lookup: async (idempotencyKey) => {
      const state = await readState();
      return lookupKey(state, idempotencyKey, (model, environment, version) => {
        const list = (state?.shadows?.[`${model}\u0000${environment}`] ?? []).filter((s) => s.version === version);
        const stored = list.find((s) => s.status === 'running') ?? list.at(-1);
        return stored ? readOnlyShadow(stored) : null;
      });
    },
  };
  async function shadowsOf(model: string, environment: Environment): Promise<StoredShadow[]> {
    return (await readState())?.shadows?.[`${model}\u0000${environment}`] ?? [];
  }

  const jobs = createJobStore(join(root, 'jobs'));
  const trainer: Trainer = {
    start: async () => refuse('training'),
    async get(jobId) {
      if (!/^[A-Za-z0-9_-]{1,80}$/.test(jobId)) return undefined;
      const record = await jobs.read(jobId);
      if (!record) return undefined;
      const { model, dataset, status, progress, startedAt, finishedAt, version, error } = record;
      return { jobId, model, dataset, status, progress, startedAt, finishedAt, version, error };
    },
    async waitFor(jobId) {
      const job = await this.get(jobId);
      if (!job) throw new UserError(`training job ${jobId} is not known to this lab`, { code: 'not_found' });
      return job;
    },
    async lookup(idempotencyKey): Promise<KeyedWork<TrainingJob>> {
      const record = await jobs.read(jobIdForKey(idempotencyKey));
      if (!record || record.idempotencyKey !== idempotencyKey) return { state: 'not_started' };
      const { jobId, model, dataset, status, progress, startedAt, finishedAt, version, error } = record;
      return {
        state: status === 'queued' || status === 'running' ? 'started' : 'ended',
        work: { jobId, model, dataset, status, progress, startedAt, finishedAt, version, error },
      };
    },
  };

  const checks = createLocalDataQuality({
    datasetsDir: join(root, 'datasets'),
    checksDir: join(root, 'data-checks'),
    contracts: options.contracts,
    clock,
    scoreWith: async () => undefined,
  });
  // Stored verdicts are read (risk is computed from them); a check would store a report.
  const dataQuality: Backends['dataQuality'] = {
    check: async () => refuse('check_data_quality'),
    verdict: (dataset) => checks.verdict(dataset),
  };

  return { root, registry, deployer, trainer, dataQuality };
}
