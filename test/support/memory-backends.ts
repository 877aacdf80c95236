// In-memory backends for unit tests of the gate and the loop. They keep real state
// (versions, splits, jobs) so tests can assert what changed, and count every call.
import type {
  Backends,
  DataQualityReport,
  Environment,
  ModelVersion,
  Rollout,
  TrafficSplit,
  TrainingJob,
} from '../../tools/index.js';

export interface MemoryBackends extends Backends {
  calls: string[];
  versions: ModelVersion[];
  splits: Map<string, TrafficSplit>;
  /** Findings the next data check returns. */
  nextFindings: DataQualityReport['findings'];
  /** Metrics and gates the next training job's version gets. */
  nextTraining: { auc: number; failedGates: string[] };
  /** When set, the next canary ends rolled back with this reason. */
  nextCanaryFails: string | null;
}

export function version(model: string, v: string, auc: number, failedGates: string[] = [], aliases: string[] = []): ModelVersion {
  return {
    model,
    version: v,
    createdAt: '2026-01-01T00:00:00.000Z',
    createdBy: 'test',
    dataVersion: `sha-${v}`,
    dataset: 'credit-train',
    params: { learningRate: 0.05 },
    metrics: { auc },
    codeVersion: null,
    trainingJobId: null,
    qualityGates: [
      { gate: 'auc', value: auc, threshold: 0.82, direction: 'min', passed: !failedGates.includes('auc') },
      ...failedGates.filter((g) => g !== 'auc').map((g) => ({ gate: g, value: 1, threshold: 0, direction: 'max' as const, passed: false })),
    ],
    promotable: failedGates.length === 0,
    aliases,
  };
}

export function memoryBackends(): MemoryBackends {
  const key = (model: string, env: Environment) => `${model}/${env}`;
  const jobs = new Map<string, TrainingJob>();
  const state: MemoryBackends = {
    calls: [],
    versions: [version('credit-risk', '1', 0.85, [], ['champion'])],
    splits: new Map([[key('credit-risk', 'production'), { model: 'credit-risk', environment: 'production', stableVersion: '1', canaryVersion: null, canaryPercent: 0, lastKnownGoodVersion: '1' }]]),
    nextFindings: [],
    nextTraining: { auc: 0.87, failedGates: [] },
    nextCanaryFails: null,
    registry: {
      async listModels() {
        state.calls.push('registry.listModels');
        return [{ name: 'credit-risk', description: 'credit risk', latestVersion: state.versions.at(-1)?.version ?? null, aliases: { champion: '1' }, versionCount: state.versions.length }];
      },
      async listVersions(model) {
        state.calls.push('registry.listVersions');
        return state.versions.filter((v) => v.model === model);
      },
      async getVersion(model, v) {
        return state.versions.find((x) => x.model === model && x.version === v);
      },
      async resolveAlias(model, alias) {
        return state.versions.find((x) => x.model === model && x.aliases.includes(alias));
      },
      async aliasHistory() {
        return [];
      },
    },
    trainer: {
      async start(req) {
        state.calls.push(`trainer.start:${req.dataset}`);
        const existing = [...jobs.values()].find((j) => j.jobId === `job-${req.idempotencyKey}`);
        if (existing) return existing;
        const v = String(state.versions.length + 1);
        state.versions.push(version(req.model, v, state.nextTraining.auc, state.nextTraining.failedGates));
        const job: TrainingJob = { jobId: `job-${req.idempotencyKey}`, model: req.model, dataset: req.dataset, status: 'succeeded', progress: 1, startedAt: '2026-01-01T00:00:00.000Z', finishedAt: '2026-01-01T00:00:01.000Z', version: v, error: null };
        jobs.set(job.jobId, job);
        return job;
      },
      async get(id) {
        return jobs.get(id);
      },
      async waitFor(id) {
        return jobs.get(id)!;
      },
    },
    deployer: {
      async getSplit(model, env) {
        return state.splits.get(key(model, env));
      },
      async deployCanary(req): Promise<Rollout> {
        state.calls.push(`deployer.deployCanary:${req.version}@${req.targetPercent}`);
        const split = state.splits.get(key(req.model, req.environment))!;
        const failed = state.nextCanaryFails;
        if (failed) {
          state.splits.set(key(req.model, req.environment), { ...split, canaryVersion: null, canaryPercent: 0 });
          return { model: req.model, environment: req.environment, stableVersion: split.stableVersion, canaryVersion: req.version, canaryPercent: 0, targetPercent: req.targetPercent, status: 'rolled_back', analyses: [], reason: failed };
        }
        const promoted = req.targetPercent >= 100;
        const next: TrafficSplit = promoted
          ? { ...split, stableVersion: req.version, canaryVersion: null, canaryPercent: 0, lastKnownGoodVersion: req.version }
          : { ...split, canaryVersion: req.version, canaryPercent: req.targetPercent };
        state.splits.set(key(req.model, req.environment), next);
        return { model: req.model, environment: req.environment, stableVersion: next.stableVersion, canaryVersion: promoted ? null : req.version, canaryPercent: promoted ? 0 : req.targetPercent, targetPercent: req.targetPercent, status: promoted ? 'promoted' : 'paused', analyses: [], reason: null };
      },
      async rollback(req) {
        state.calls.push(`deployer.rollback:${req.model}`);
        const split = state.splits.get(key(req.model, req.environment))!;
        const next = { ...split, stableVersion: split.lastKnownGoodVersion, canaryVersion: null, canaryPercent: 0 };
        state.splits.set(key(req.model, req.environment), next);
        return next;
      },
    },
    dataQuality: {
      async check(dataset) {
        state.calls.push(`dataQuality.check:${dataset}`);
        const findings = state.nextFindings;
        return { dataset, dataVersion: 'sha-data', reference: 'credit-train', rows: 100, checkedAt: '2026-01-01T00:00:00.000Z', findings, passed: !findings.some((f) => f.severity === 'alert') };
      },
    },
  };
  return state;
}
