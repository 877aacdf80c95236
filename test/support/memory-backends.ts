// In-memory backends for unit tests of the gate and the loop. They keep real state
// (versions, splits, jobs) so tests can assert what changed, and count every call.
import type {
  Backends,
  DeployerWork,
  DataQualityReport,
  Deployer,
  Environment,
  ModelVersion,
  Rollout,
  Shadow,
  TrafficSplit,
  TrainingJob,
} from '../../tools/index.js';

export interface MemoryBackends extends Backends {
  calls: string[];
  versions: ModelVersion[];
  splits: Map<string, TrafficSplit>;
  /** Drift findings the next data check returns. */
  nextFindings: DataQualityReport['findings'];
  /** Contract violations the next data check returns (none: the data passes). */
  nextViolations: DataQualityReport['violations'];
  /** Content hash of each dataset (default `sha-<dataset>`); change one to make its stored verdict stale. */
  dataVersions: Map<string, string>;
  /**
   * Forgets every stored data-quality report. credit-train and credit-recent start checked
   * and passed (drift only), as where the data pipeline checks every export, so tests about
   * other things can retrain under the shipped policy.
   */
  forgetChecks(): void;
  /** Metrics and gates the next training job's version gets. */
  nextTraining: { auc: number; failedGates: string[] };
  /** When set, the next canary ends rolled back with this reason. */
  nextCanaryFails: string | null;
  /** When true, training jobs started from now on run until `finishJob` ends them. */
  holdJobs: boolean;
  /** When true, canaries started from now on stay `progressing` until `endCanary`. */
  holdCanaries: boolean;
  /** Ends a held job: it registers its version, or fails with `error`. */
  finishJob(jobId: string, error?: string): void;
  /** Ends a held canary as an unheld one would have ended. */
  endCanary(model: string, environment: Environment): void;
  /** Training jobs by id. */
  jobs: Map<string, TrainingJob>;
}

export function version(
  model: string,
  v: string,
  auc: number,
  failedGates: string[] = [],
  aliases: string[] = [],
): ModelVersion {
  return {
    model,
    version: v,
    createdAt: '2026-01-01T00:00:00.000Z',
    createdBy: 'test',
    dataVersion: `sha-${v}`,
    dataset: 'credit-train',
    dataQualityReport: null,
    params: { learningRate: 0.05 },
    metrics: { auc },
    codeVersion: null,
    trainingJobId: null,
    qualityGates: [
      { gate: 'auc', value: auc, threshold: 0.82, direction: 'min', passed: !failedGates.includes('auc') },
      ...failedGates
        .filter((g) => g !== 'auc')
        .map((g) => ({ gate: g, value: 1, threshold: 0, direction: 'max' as const, passed: false })),
    ],
    promotable: failedGates.length === 0,
    aliases,
  };
}

type CanaryRequest = Parameters<Deployer['deployCanary']>[0];

export function memoryBackends(): MemoryBackends {
  const key = (model: string, env: Environment) => `${model}/${env}`;
  const jobs = new Map<string, TrainingJob>();
  const rollouts = new Map<string, Rollout>();
  const heldCanaries = new Map<string, CanaryRequest>();
  const shadows = new Map<string, Shadow>();
  // What the deployer did under each idempotency key, as a real adapter keeps it with the work.
  const keyed = new Map<string, DeployerWork>();
  // Whoever waits for a job or a rollout, woken when it ends.
  const waiters = new Set<() => void>();
  const wake = () => {
    for (const w of [...waiters]) w();
  };
  const waitUntil = (done: () => boolean, timeoutMs: number, signal?: AbortSignal) =>
    new Promise<void>((resolve) => {
      if (done()) return resolve();
      const end = () => {
        clearTimeout(timer);
        waiters.delete(check);
        resolve();
      };
      const check = () => {
        if (done()) end();
      };
      const timer = setTimeout(end, timeoutMs);
      signal?.addEventListener('abort', end, { once: true });
      waiters.add(check);
    });
  const register = (job: TrainingJob): TrainingJob => {
    const v = String(state.versions.length + 1);
    state.versions.push(version(job.model, v, state.nextTraining.auc, state.nextTraining.failedGates));
    return { ...job, status: 'succeeded', progress: 1, finishedAt: '2026-01-01T00:00:01.000Z', version: v };
  };
  // How a canary ends: rolled back when `nextCanaryFails`, else paused at its target or promoted at 100.
  const endOf = (req: CanaryRequest): Rollout => {
    const split = state.splits.get(key(req.model, req.environment))!;
    const failed = state.nextCanaryFails;
    if (failed) {
      state.splits.set(key(req.model, req.environment), { ...split, canaryVersion: null, canaryPercent: 0 });
      return {
        model: req.model,
        environment: req.environment,
        stableVersion: split.stableVersion,
        canaryVersion: req.version,
        canaryPercent: 0,
        targetPercent: req.targetPercent,
        status: 'rolled_back',
        analyses: [],
        reason: failed,
      };
    }
    const promoted = req.targetPercent >= 100;
    const next: TrafficSplit = promoted
      ? {
          ...split,
          stableVersion: req.version,
          canaryVersion: null,
          canaryPercent: 0,
          lastKnownGoodVersion: req.version,
        }
      : { ...split, canaryVersion: req.version, canaryPercent: req.targetPercent };
    state.splits.set(key(req.model, req.environment), next);
    return {
      model: req.model,
      environment: req.environment,
      stableVersion: next.stableVersion,
      canaryVersion: promoted ? null : req.version,
      canaryPercent: promoted ? 0 : req.targetPercent,
      targetPercent: req.targetPercent,
      status: promoted ? 'promoted' : 'paused',
      analyses: [],
      reason: null,
    };
  };
  // Data-quality reports by data version, as an adapter stores its verdicts.
  const checked = new Map<string, DataQualityReport>();
  const dataVersionOf = (dataset: string) => state.dataVersions.get(dataset) ?? `sha-${dataset}`;
  const state: MemoryBackends = {
    calls: [],
    versions: [version('credit-risk', '1', 0.85, [], ['champion'])],
    splits: new Map([
      [
        key('credit-risk', 'production'),
        {
          model: 'credit-risk',
          environment: 'production',
          stableVersion: '1',
          canaryVersion: null,
          canaryPercent: 0,
          lastKnownGoodVersion: '1',
        },
      ],
    ]),
    nextFindings: [],
    nextViolations: [],
    dataVersions: new Map(),
    forgetChecks() {
      checked.clear();
    },
    nextTraining: { auc: 0.87, failedGates: [] },
    nextCanaryFails: null,
    holdJobs: false,
    holdCanaries: false,
    jobs,
    finishJob(jobId, error) {
      const job = jobs.get(jobId);
      if (!job || job.status !== 'running') throw new Error(`no running job ${jobId}`);
      jobs.set(
        jobId,
        error ? { ...job, status: 'failed', finishedAt: '2026-01-01T00:00:01.000Z', error } : register(job),
      );
      wake();
    },
    endCanary(model, environment) {
      const req = heldCanaries.get(key(model, environment));
      if (!req) throw new Error(`no held canary of ${model} in ${environment}`);
      heldCanaries.delete(key(model, environment));
      rollouts.set(key(model, environment), endOf(req));
      wake();
    },
    registry: {
      async listModels() {
        state.calls.push('registry.listModels');
        return [
          {
            name: 'credit-risk',
            description: 'credit risk',
            latestVersion: state.versions.at(-1)?.version ?? null,
            aliases: { champion: '1' },
            versionCount: state.versions.length,
          },
        ];
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
      async setAlias(model, alias, version, by, reason) {
        state.calls.push(`registry.setAlias:${alias}:${version}`);
        return { model, alias, from: null, to: version, at: '2026-01-01T00:00:00.000Z', by, reason };
      },
    },
    trainer: {
      async start(req) {
        state.calls.push(`trainer.start:${req.dataset}`);
        const existing = jobs.get(`job-${req.idempotencyKey}`);
        if (existing) return existing;
        const started: TrainingJob = {
          jobId: `job-${req.idempotencyKey}`,
          model: req.model,
          dataset: req.dataset,
          status: 'running',
          progress: 0,
          startedAt: '2026-01-01T00:00:00.000Z',
          finishedAt: null,
          version: null,
          error: null,
        };
        const job = state.holdJobs ? started : register(started);
        jobs.set(job.jobId, job);
        return job;
      },
      async get(id) {
        return jobs.get(id);
      },
      async lookup(idempotencyKey) {
        const job = jobs.get(`job-${idempotencyKey}`);
        if (!job) return { state: 'not_started' };
        return { state: job.status === 'running' || job.status === 'queued' ? 'started' : 'ended', work: job };
      },
      async waitFor(id, { timeoutMs, signal }) {
        await waitUntil(() => jobs.get(id)?.status !== 'running', timeoutMs, signal);
        return jobs.get(id)!;
      },
    },
    deployer: {
      async getSplit(model, env) {
        return state.splits.get(key(model, env));
      },
      async deployCanary(req): Promise<Rollout> {
        state.calls.push(`deployer.startCanary:${req.version}@${req.targetPercent}`);
        const rollout = endOf(req);
        rollouts.set(key(req.model, req.environment), rollout);
        return rollout;
      },
      async startCanary(req): Promise<Rollout> {
        const earlier = req.idempotencyKey ? keyed.get(req.idempotencyKey) : undefined;
        if (earlier?.kind === 'canary') return rollouts.get(key(req.model, req.environment))!;
        if (req.idempotencyKey)
          keyed.set(req.idempotencyKey, {
            kind: 'canary',
            model: req.model,
            environment: req.environment,
            version: req.version,
            targetPercent: req.targetPercent,
            at: '2026-01-01T00:00:00.000Z',
            rollout: null,
          });
        state.calls.push(`deployer.startCanary:${req.version}@${req.targetPercent}`);
        if (!state.holdCanaries) {
          rollouts.set(key(req.model, req.environment), endOf(req));
          return rollouts.get(key(req.model, req.environment))!;
        }
        const split = state.splits.get(key(req.model, req.environment))!;
        heldCanaries.set(key(req.model, req.environment), req);
        const rollout: Rollout = {
          model: req.model,
          environment: req.environment,
          stableVersion: split.stableVersion,
          canaryVersion: req.version,
          canaryPercent: 0,
          targetPercent: req.targetPercent,
          status: 'progressing',
          analyses: [],
          reason: null,
        };
        rollouts.set(key(req.model, req.environment), rollout);
        return rollout;
      },
      async rollout(model, env) {
        return rollouts.get(key(model, env));
      },
      async waitForRollout(model, env, { timeoutMs, signal }) {
        await waitUntil(() => rollouts.get(key(model, env))?.status !== 'progressing', timeoutMs, signal);
        return rollouts.get(key(model, env));
      },
      async rollback(req) {
        const earlier = req.idempotencyKey ? keyed.get(req.idempotencyKey) : undefined;
        if (earlier?.kind === 'rollback') return earlier.split;
        state.calls.push(`deployer.rollback:${req.model}`);
        const split = state.splits.get(key(req.model, req.environment))!;
        const next = { ...split, stableVersion: split.lastKnownGoodVersion, canaryVersion: null, canaryPercent: 0 };
        state.splits.set(key(req.model, req.environment), next);
        if (req.idempotencyKey)
          keyed.set(req.idempotencyKey, {
            kind: 'rollback',
            model: req.model,
            environment: req.environment,
            at: '2026-01-01T00:00:00.000Z',
            split: next,
          });
        return next;
      },
      async lookup(idempotencyKey) {
        const work = keyed.get(idempotencyKey);
        if (!work) return { state: 'not_started' };
        if (work.kind !== 'canary') return { state: 'ended', work };
        const rollout = rollouts.get(key(work.model, work.environment)) ?? null;
        return { state: rollout?.status === 'progressing' ? 'started' : 'ended', work: { ...work, rollout } };
      },
      // Shadows as the lab keeps them, without traffic: their analysis is inconclusive.
      async startShadow(req) {
        const earlier = req.idempotencyKey ? keyed.get(req.idempotencyKey) : undefined;
        if (earlier?.kind === 'shadow') return shadows.get(`${key(req.model, req.environment)}/${req.version}`)!;
        state.calls.push(`deployer.startShadow:${req.version}@${req.mirrorPercent}`);
        const shadow: Shadow = {
          model: req.model,
          environment: req.environment,
          version: req.version,
          mirrorPercent: req.mirrorPercent,
          status: 'running',
          startedAt: '2026-01-01T00:00:00.000Z',
          endedAt: null,
          requestedBy: req.requestedBy,
          reason: null,
          analysis: null,
        };
        shadows.set(`${key(req.model, req.environment)}/${req.version}`, shadow);
        if (req.idempotencyKey) keyed.set(req.idempotencyKey, { kind: 'shadow', ...req, at: shadow.startedAt, shadow });
        return shadow;
      },
      async endShadow(req) {
        const earlier = req.idempotencyKey ? keyed.get(req.idempotencyKey) : undefined;
        if (earlier?.kind === 'shadow_end') return earlier.shadow;
        state.calls.push(`deployer.endShadow:${req.version}`);
        const id = `${key(req.model, req.environment)}/${req.version}`;
        const current = shadows.get(id);
        if (current?.status !== 'running') throw new Error(`no shadow of ${req.version} runs`);
        const ended: Shadow = { ...current, status: 'ended', endedAt: '2026-01-01T00:00:01.000Z', reason: req.reason };
        shadows.set(id, ended);
        if (req.idempotencyKey)
          keyed.set(req.idempotencyKey, {
            kind: 'shadow_end',
            model: req.model,
            environment: req.environment,
            version: req.version,
            at: ended.endedAt!,
            shadow: ended,
          });
        return ended;
      },
      async shadows(model, env) {
        return [...shadows.entries()].filter(([id]) => id.startsWith(`${key(model, env)}/`)).map(([, s]) => s);
      },
    },
    dataQuality: {
      async check(dataset) {
        state.calls.push(`dataQuality.check:${dataset}`);
        const findings = state.nextFindings;
        const violations = state.nextViolations;
        const hard = [...new Set(violations.filter((v) => v.severity === 'hard').map((v) => v.rule))];
        const soft = [...new Set(violations.filter((v) => v.severity === 'soft').map((v) => v.rule))];
        const verdict = {
          passed: hard.length === 0,
          failedChecks: hard,
          softFailures: soft,
          driftOnly: violations.length === 0,
          drifted: findings.some((f) => f.severity !== 'info'),
        };
        const report = {
          dataset,
          dataVersion: dataVersionOf(dataset),
          contract: { name: 'credit', file: 'contracts/credit.yaml', hash: 'contract-hash' },
          reference: 'credit-train',
          rows: 100,
          checkedAt: '2026-01-01T00:00:00.000Z',
          violations,
          findings,
          verdict,
          passed: verdict.passed,
          reportHash: `report-${dataset}-${checked.size + 1}`,
          reused: false,
        };
        checked.set(report.dataVersion, report);
        return report;
      },
      async verdict(dataset) {
        state.calls.push(`dataQuality.verdict:${dataset}`);
        const report = checked.get(dataVersionOf(dataset));
        return {
          dataset,
          dataVersion: dataVersionOf(dataset),
          checked: report !== undefined,
          verdict: report?.verdict ?? null,
          reportHash: report?.reportHash ?? null,
          checkedAt: report?.checkedAt ?? null,
        };
      },
    },
  };
  for (const dataset of ['credit-train', 'credit-recent']) {
    checked.set(dataVersionOf(dataset), {
      dataset,
      dataVersion: dataVersionOf(dataset),
      contract: { name: 'credit', file: 'contracts/credit.yaml', hash: 'contract-hash' },
      reference: 'credit-train',
      rows: 100,
      checkedAt: '2025-12-31T00:00:00.000Z',
      violations: [],
      findings: [],
      verdict: { passed: true, failedChecks: [], softFailures: [], driftOnly: true, drifted: false },
      passed: true,
      reportHash: `report-${dataset}-0`,
      reused: false,
    });
  }
  return state;
}
