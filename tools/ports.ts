// The backend ports the tools act on. They live here, with their consumers; adapters
// (src/backends/local, later MLflow and Prometheus) implement them and import this file.

export type Environment = 'staging' | 'production';
export const ENVIRONMENTS: readonly Environment[] = ['staging', 'production'];

export type ParamValue = number | string | boolean;

export interface QualityGateResult {
  /** e.g. `auc`, `calibration_error`, `p99_latency_ms`, `parity_gap` */
  gate: string;
  value: number;
  threshold: number;
  /** `min`: value must be >= threshold; `max`: value must be <= threshold */
  direction: 'min' | 'max';
  passed: boolean;
}

export interface ModelVersion {
  model: string;
  /** Monotonic per model: "1", "2", ... */
  version: string;
  createdAt: string;
  /** Who or what created it: a principal id or a training job id. */
  createdBy: string;
  /** Content hash of the training data (sha256 hex), like DVC. */
  dataVersion: string;
  /** The dataset name the model was trained on. */
  dataset: string;
  /**
   * `reportHash` of the data-quality report on exactly that data (under the data contract
   * in force) when it was trained; null when that content had never been checked.
   */
  dataQualityReport: string | null;
  params: Record<string, ParamValue>;
  metrics: Record<string, number>;
  /** git commit of the code that trained it, when known. */
  codeVersion: string | null;
  trainingJobId: string | null;
  qualityGates: QualityGateResult[];
  /** False when any quality gate failed: such a version can never be promoted. */
  promotable: boolean;
  aliases: string[];
}

export interface ModelSummary {
  name: string;
  description: string;
  latestVersion: string | null;
  /** alias -> version */
  aliases: Record<string, string>;
  versionCount: number;
}

export interface AliasMove {
  model: string;
  alias: string;
  from: string | null;
  to: string | null;
  at: string;
  by: string;
  reason: string;
}

export interface ModelRegistry {
  listModels(): Promise<ModelSummary[]>;
  listVersions(model: string): Promise<ModelVersion[]>;
  getVersion(model: string, version: string): Promise<ModelVersion | undefined>;
  /** The version an alias (`champion`, `challenger`) points at, if any. */
  resolveAlias(model: string, alias: string): Promise<ModelVersion | undefined>;
  aliasHistory(model: string): Promise<AliasMove[]>;
  /**
   * Points `alias` at `version` (null removes it) and records the move. `champion` only
   * takes promotable versions. Idempotent: when the alias already points there (a retried
   * promotion), nothing is recorded again and the move that put it there is returned.
   */
  setAlias(model: string, alias: string, version: string | null, by: string, reason: string): Promise<AliasMove>;
}

export interface TrainingRequest {
  model: string;
  dataset: string;
  params: Record<string, ParamValue>;
  /** Number of random-search trials around `params`; 0 or absent trains once. */
  searchTrials?: number;
  requestedBy: string;
  /** Makes a retried request return the same job instead of starting another. */
  idempotencyKey?: string;
}

export type TrainingStatus = 'queued' | 'running' | 'succeeded' | 'failed';

export interface TrainingJob {
  jobId: string;
  model: string;
  dataset: string;
  status: TrainingStatus;
  /** 0..1 */
  progress: number;
  startedAt: string;
  finishedAt: string | null;
  /** The registered version once succeeded. */
  version: string | null;
  error: string | null;
}

/**
 * What became of the work a backend was asked to do under an idempotency key: never
 * started (the request did not reach it, or was refused), started and under way, or
 * ended. Every side-effecting port answers this, so a call whose worker died can be
 * finished, waited for, or executed once, never guessed at.
 */
export type KeyedWork<W> = { state: 'not_started' } | { state: 'started'; work: W } | { state: 'ended'; work: W };

export interface Trainer {
  /**
   * Starts a job. With `idempotencyKey`, the key is stored with the job in the same
   * durable write (a start that returned is acknowledged), and a second start under the
   * key returns that job instead of starting another.
   */
  start(request: TrainingRequest): Promise<TrainingJob>;
  /** The job started under `idempotencyKey`: not started, started (queued or running), or ended. */
  lookup(idempotencyKey: string): Promise<KeyedWork<TrainingJob>>;
  get(jobId: string): Promise<TrainingJob | undefined>;
  /** Resolves when the job has finished (succeeded or failed) or the timeout passes. */
  waitFor(jobId: string, options: { timeoutMs: number; signal?: AbortSignal }): Promise<TrainingJob>;
}

export interface CanaryAnalysis {
  at: string;
  trafficPercent: number;
  passed: boolean;
  /** Each check: name, canary value, stable value, threshold, passed. */
  checks: CanaryCheck[];
}

export interface CanaryCheck {
  check: string;
  canary: number;
  stable: number;
  threshold: number;
  passed: boolean;
  /**
   * What was compared with `threshold` when the check allows for sample size: the
   * one-sided confidence bound of the difference (accuracy: upper, error rate: lower), or
   * the PSI less what sampling alone produces. Absent on checks that compare raw values.
   */
  bound?: number;
  /** Observations each side contributed (requests, scores or labels). */
  samples?: { canary: number; stable: number };
}

export type RolloutStatus = 'progressing' | 'paused' | 'promoted' | 'rolled_back';
export const ROLLOUT_STATUSES: readonly RolloutStatus[] = ['progressing', 'paused', 'promoted', 'rolled_back'];

export interface Rollout {
  model: string;
  environment: Environment;
  stableVersion: string;
  canaryVersion: string | null;
  /** Share of traffic the canary gets now. */
  canaryPercent: number;
  /** The highest share this rollout is authorised to reach; steps stop there. */
  targetPercent: number;
  status: RolloutStatus;
  analyses: CanaryAnalysis[];
  reason: string | null;
}

export interface TrafficSplit {
  model: string;
  environment: Environment;
  stableVersion: string;
  canaryVersion: string | null;
  canaryPercent: number;
  /** The version `rollback` returns to. */
  lastKnownGoodVersion: string;
}

/** A canary request as the deployer takes it; `idempotencyKey` is stored with the rollout. */
export interface CanaryRequest {
  model: string;
  version: string;
  environment: Environment;
  targetPercent: number;
  requestedBy: string;
  timeoutMs: number;
  /** A second request under the key continues nothing new: it is answered with the rollout it started. */
  idempotencyKey?: string;
}

/** A candidate mirrored a share of the stable version's requests: it scores them, and nobody gets its answers. */
export type ShadowStatus = 'running' | 'ended';
export const SHADOW_STATUSES: readonly ShadowStatus[] = ['running', 'ended'];

/** `inconclusive`: too few mirrored requests (or scores) to judge; never a pass. */
export type ShadowVerdict = 'passed' | 'failed' | 'inconclusive';
export const SHADOW_VERDICTS: readonly ShadowVerdict[] = ['passed', 'failed', 'inconclusive'];

/** The shadow compared with the stable version on the requests mirrored to it since it started. */
export interface ShadowAnalysis {
  at: string;
  /** The stable version its scores are compared with. */
  stableVersion: string;
  verdict: ShadowVerdict;
  /** Why, in a sentence (what was short, what failed, whether accuracy is judged yet). */
  reason: string;
  /** Requests mirrored to the shadow (scored or failed). */
  mirroredRequests: number;
  /** Mean of (shadow score − stable score) over the same mirrored rows; null before any. */
  meanScoreDelta: number | null;
  /** Share of mirrored rows on which both decide alike (score ≥ 0.5); null before any. */
  agreement: number | null;
  /** Mirrored rows whose true label came back. */
  labelled: number;
  /** Each check as a canary's: `shadow_requests`, `error_rate`, `p99_latency_ratio`, `score_psi`, `accuracy` (the `canary` side is the shadow). */
  checks: CanaryCheck[];
}

export interface Shadow {
  model: string;
  environment: Environment;
  version: string;
  /** Share (percent) of the stable version's requests mirrored to it. */
  mirrorPercent: number;
  status: ShadowStatus;
  startedAt: string;
  endedAt: string | null;
  requestedBy: string;
  /** Why it ended; null while it runs. */
  reason: string | null;
  /** Its comparison with the stable version now (the last one, once ended); null where the serving stats are not kept (a read-only look). */
  analysis: ShadowAnalysis | null;
}

/** A shadow request as the deployer takes it; `idempotencyKey` is stored with the shadow. */
export interface ShadowRequest {
  model: string;
  version: string;
  environment: Environment;
  /** 1..100: the share of the stable version's requests mirrored to the candidate. */
  mirrorPercent: number;
  requestedBy: string;
  idempotencyKey?: string;
}

/** Ending a shadow; under a key already used, the end it left is the answer. */
export interface ShadowEndRequest {
  model: string;
  environment: Environment;
  version: string;
  reason: string;
  requestedBy: string;
  idempotencyKey?: string;
}

/** What the deployer did under an idempotency key. */
export type DeployerWork =
  /** A canary it started: the request, and the rollout as it now stands when it is still the current one. */
  | {
      kind: 'canary';
      model: string;
      environment: Environment;
      version: string;
      targetPercent: number;
      at: string;
      rollout: Rollout | null;
    }
  /** A rollback: the split it left. */
  | { kind: 'rollback'; model: string; environment: Environment; at: string; split: TrafficSplit }
  /** A shadow it started (or whose mirrored share it changed): the shadow as it now stands, null when no longer kept. */
  | {
      kind: 'shadow';
      model: string;
      environment: Environment;
      version: string;
      mirrorPercent: number;
      at: string;
      shadow: Shadow | null;
    }
  /** A shadow it ended: the shadow as it ended, with its last analysis. */
  | { kind: 'shadow_end'; model: string; environment: Environment; version: string; at: string; shadow: Shadow };

export interface Deployer {
  /** Current split, or undefined when the model is not served in that environment. */
  getSplit(model: string, environment: Environment): Promise<TrafficSplit | undefined>;
  /**
   * Starts (or continues) a canary of `version` that steps up to `targetPercent` with an
   * analysis between steps; resolves when the rollout reaches the target, fails its
   * analysis (and is rolled back), or `timeoutMs` passes. 100 promotes the version.
   * A canary left holding traffic stays under analysis and is rolled back once it fails
   * (an adapter may first want a failure confirmed by the next analysis), without waiting
   * for anyone: a pending approval for more never blocks that.
   */
  deployCanary(request: CanaryRequest): Promise<Rollout>;
  /**
   * Starts (or continues) the same canary as `deployCanary` without waiting for it: resolves
   * once the rollout is under way, with the rollout as it then stands (usually
   * `progressing`). A bad request is refused here, as by `deployCanary`; `timeoutMs` bounds
   * the stepping as there. With `idempotencyKey` the rollout and its key are durable before
   * it resolves. Follow it with `rollout` or `waitForRollout`.
   */
  startCanary(request: CanaryRequest): Promise<Rollout>;
  /** The latest rollout of the model in the environment, under way or ended; undefined when there was none. */
  rollout(model: string, environment: Environment): Promise<Rollout | undefined>;
  /**
   * Resolves with the rollout once it is no longer `progressing`, or as it stands when
   * `timeoutMs` passes (a rollout stepping in this process signals its end; others are read again).
   */
  waitForRollout(
    model: string,
    environment: Environment,
    options: { timeoutMs: number; signal?: AbortSignal },
  ): Promise<Rollout | undefined>;
  /** Sends all traffic back to the last known-good version at once; under a key already used, answers with what that rollback left. */
  rollback(request: {
    model: string;
    environment: Environment;
    reason: string;
    requestedBy: string;
    idempotencyKey?: string;
  }): Promise<TrafficSplit>;
  /** What was done under `idempotencyKey`: a canary started (under way while its rollout still steps), a rollback, a shadow started or ended (ended), or nothing. */
  lookup(idempotencyKey: string): Promise<KeyedWork<DeployerWork>>;
  /**
   * Mirrors `mirrorPercent` of the stable version's requests to `version` as a shadow: it
   * scores them, its answers go to nobody, and its scores (and accuracy, as labels come back)
   * are compared with the stable version's. A shadow of that version already running takes
   * the new share. Under a key already used, answers with that shadow and changes nothing.
   * An adapter that cannot mirror traffic refuses with a UserError saying so.
   */
  startShadow(request: ShadowRequest): Promise<Shadow>;
  /** Stops mirroring to `version`; the shadow is kept, ended, with its last analysis. Under a key already used, answers with what that end left. */
  endShadow(request: ShadowEndRequest): Promise<Shadow>;
  /** The shadows of the model in the environment: running ones, then the latest ended ones, each with its analysis. */
  shadows(model: string, environment: Environment): Promise<Shadow[]>;
}

export type Severity = 'info' | 'warn' | 'alert';

/** A drift measure or a note about one; drift is a reason to retrain, never a reason to fail data. */
export interface DataQualityFinding {
  /** `psi`, `ks`, `prediction_kl`, or `drift` (a note: drift was not measured, and why) */
  check: string;
  column: string | null;
  value: number | string | null;
  threshold: number | null;
  severity: Severity;
  message: string;
}

/** A rule of the dataset's data contract that the data breaks. */
export interface ContractViolation {
  /** The rule's id: a column's check (`income.range`, `income.nulls`, `income.type`, `income.present`, `age_band.values`), `rows.count`, `<column>.freshness`, `<column>.gaps`, a uniqueness rule (`applicant_id.unique`) or a CEL rule's id. */
  rule: string;
  /** `hard`: the data fails (the trainer refuses it); `soft`: reported for a person. */
  severity: 'hard' | 'soft';
  column: string | null;
  /** Rows that break it; 0 for rules over the whole dataset (row count, freshness, a missing column). */
  rowsAffected: number;
  /** A few of those rows: their 1-based number and the values the rule read. */
  examples: { row: number; values: Record<string, string | number | null> }[];
  message: string;
  /** Where the rule is written, `file:line`. */
  source: string;
}

export interface DataVerdict {
  /** No hard rule of the contract is broken. */
  passed: boolean;
  /** The hard rules broken (each one fails the data). */
  failedChecks: string[];
  /** The soft rules broken. */
  softFailures: string[];
  /** Nothing but drift was found: no rule broken, hard or soft. The data is valid; its distribution may have moved. */
  driftOnly: boolean;
  /** A drift measure reached its warn or alert band. */
  drifted: boolean;
}

export interface DataQualityReport {
  dataset: string;
  /** sha256 of the dataset's content */
  dataVersion: string;
  /** The data contract the data was checked against; null when none covers the dataset (then it fails). */
  contract: { name: string; file: string; hash: string } | null;
  reference: string | null;
  rows: number;
  checkedAt: string;
  violations: ContractViolation[];
  /** Drift against the reference, with the measures that stayed in their bands as `info`. */
  findings: DataQualityFinding[];
  verdict: DataVerdict;
  /** The verdict's `passed`. */
  passed: boolean;
  /** sha256 of the report's canonical JSON, itself and `reused` left out; versions trained on this data record it. */
  reportHash: string;
  /** This content was checked before under the same contract, reference and scoring model: the stored report, not checked again. */
  reused: boolean;
}

/** What is known about a dataset's current content without checking it. */
export interface DataVerdictLookup {
  dataset: string;
  dataVersion: string;
  /** A report is stored for exactly this content under the contract in force. */
  checked: boolean;
  /** The newest such report's verdict; null when never checked. */
  verdict: DataVerdict | null;
  reportHash: string | null;
  checkedAt: string | null;
}

export interface DataQuality {
  /**
   * Checks the dataset against its data contract and measures drift against `reference`
   * (default: the contract's). The report is stored per data version; the same content
   * under the same contract, reference and scoring model is looked up, not checked again.
   */
  check(dataset: string, options?: { reference?: string }): Promise<DataQualityReport>;
  /** The stored verdict on the dataset's current content, without checking it. */
  verdict(dataset: string): Promise<DataVerdictLookup>;
}

/** A call parked for people that names a model, as the serving view lists it. */
export interface PendingApprovalRef {
  approvalId: string;
  tool: string;
  args: Record<string, unknown>;
  /** The policy rule that asked for approval. */
  ruleId: string | null;
  reason: string;
  requestedBy: string;
  runId: string | null;
  expiresAt: string;
}

/** Approvals still waiting for people (the approvals room's store answers it). */
export interface PendingApprovals {
  /** Pending approvals whose call names `model` and, when the call names one, `environment`. */
  touching(model: string, environment: Environment): Promise<PendingApprovalRef[]>;
}

/** Everything a tool can reach. */
export interface Backends {
  registry: ModelRegistry;
  trainer: Trainer;
  deployer: Deployer;
  dataQuality: DataQuality;
  /** Absent where no approvals are kept (a bare lab): the serving view then says it cannot tell. */
  approvals?: PendingApprovals;
}
