// The local lab's Trainer: each job runs in a worker thread; its record (status, progress,
// trials, metrics) lives in <jobsDir>/<jobId>.json, replaced atomically on every change,
// and the result is registered as a new version with its lineage.
import { createHash, randomBytes } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Worker } from 'node:worker_threads';
import type {
  KeyedWork,
  ParamValue,
  QualityGateResult,
  Trainer,
  TrainingJob,
  TrainingRequest,
} from '../../../tools/ports.js';
import type { Clock } from '../../clock.js';
import type { QualityGates } from './evaluation.js';
import type { ContractSet } from '../../contracts/index.js';
import { isNotFound, UserError } from '../../errors.js';
import { noContractViolation, refuseBrokenData } from './contract-checks.js';
import type { DataCheckStore } from './data-check-store.js';
import { silentLogger, type Logger } from '../../logger.js';
import { datasetFile } from './dataset-store.js';
import { createFileExclusive } from '../../durable-file.js';
import { ownerGone, PROCESS_TOKEN } from '../../process-identity.js';
import { codeVersion } from './git-version.js';
import { searchCandidates } from './hyperparameter-search.js';
import { parseTrainingParams } from './logistic-regression.js';
import type { LabModelStore } from './registry.js';
import { createJobStore, type JobStore } from './job-store.js';
import type { TrainWorkerMessage } from './train-worker.js';
import { startTrainWorker } from './train-worker-launcher.js';
import type { TrialRecord } from './training-pipeline.js';

/** Everything about one job: the port's TrainingJob plus the experiment record. */
export interface TrainingExperiment extends TrainingJob {
  schemaVersion: 1;
  params: Record<string, ParamValue>;
  searchTrials: number;
  requestedBy: string;
  idempotencyKey: string | null;
  /** The process running it, to tell an interrupted job from a running one. */
  ownerPid: number;
  dataVersion: string | null;
  codeVersion: string | null;
  trials: TrialRecord[];
  bestParams: Record<string, ParamValue> | null;
  metrics: Record<string, number> | null;
  qualityGates: QualityGateResult[] | null;
  durationMs: number | null;
  /** The data contract the data was held to (absent on records written before contracts). */
  contract?: { name: string; hash: string };
  /** The data-quality report recorded in the version's lineage (absent before contracts). */
  dataQualityReport?: string | null;
  /** Content a stored report passed when the job started: the worker does not check it again. */
  checkedVersion?: string | null;
  /** Times a process took the job over from one that died running it (absent: never). */
  takeovers?: number;
  /** The owning process's token, telling it from a later process with the same pid (absent in older records). */
  ownerToken?: string;
}

export interface LocalTrainer extends Trainer {
  getExperiment(jobId: string): Promise<TrainingExperiment | undefined>;
  /** Stops running workers (their jobs are marked failed) and waits for the records. */
  close(): Promise<void>;
}

export interface LocalTrainerOptions {
  /** Where trained versions are registered: the lab's registry, or MLflow holding lab model files. */
  registry: Pick<LabModelStore, 'createModel' | 'registerVersion' | 'listVersions'>;
  datasetsDir: string;
  jobsDir: string;
  clock: Clock;
  gates: QualityGates;
  /** Which data contract holds each dataset: the trainer refuses data that breaks a hard rule. */
  contracts: ContractSet;
  /** Stored data-quality reports: the newest on the trained content goes into the lineage. */
  dataChecks: Pick<DataCheckStore, 'newest'>;
  logger?: Logger;
}

const JOB_ID = /^job-[a-z0-9]+-[0-9a-f]{8}$/;

/**
 * A keyed job's id follows from its key, so the job record itself, created exclusively
 * under that id, is where the key lives: one fsync'd file, no index written after it.
 */
export function jobIdForKey(key: string): string {
  const hash = createHash('sha256').update(key).digest('hex');
  return `job-k${hash.slice(0, 11)}-${hash.slice(11, 19)}`;
}

function toJob(e: TrainingExperiment): TrainingJob {
  const { jobId, model, dataset, status, progress, startedAt, finishedAt, version, error } = e;
  return { jobId, model, dataset, status, progress, startedAt, finishedAt, version, error };
}

function sameRequest(e: TrainingExperiment, r: TrainingRequest): boolean {
  return (
    e.model === r.model &&
    e.dataset === r.dataset &&
    (r.searchTrials ?? 0) === e.searchTrials &&
    JSON.stringify(e.params) === JSON.stringify(r.params ?? {})
  );
}

export function createLocalTrainer(options: LocalTrainerOptions): LocalTrainer {
  const { registry, datasetsDir, jobsDir, clock, gates, contracts, dataChecks } = options;
  const logger = options.logger ?? silentLogger;
  const store: JobStore = createJobStore(jobsDir);
  const running = new Map<string, { worker: Worker; done: Promise<void> }>();
  let closing = false;
  const now = () => new Date(clock.now()).toISOString();

  // Jobs this process is writing its first record of: not orphans, though no worker runs them yet.
  const starting = new Set<string>();

  async function load(jobId: string): Promise<TrainingExperiment | undefined> {
    if (!JOB_ID.test(jobId)) return undefined;
    const record = await store.read(jobId);
    if (
      !record ||
      (record.status !== 'queued' && record.status !== 'running') ||
      running.has(jobId) ||
      starting.has(jobId)
    )
      return record;
    if (!ownerGone({ pid: record.ownerPid, token: record.ownerToken })) return record;
    if (closing)
      return { ...record, status: 'failed', error: `interrupted: process ${record.ownerPid} that ran it has exited` };
    return takeOver(record);
  }

  /**
   * A job whose process died (SIGKILL, a power cut) was acknowledged to its caller, so it
   * is finished here rather than lost: once, by the first process to claim it. A version it
   * had already registered ends it; otherwise it trains again under the same id.
   */
  async function takeOver(record: TrainingExperiment): Promise<TrainingExperiment> {
    const claim = join(
      jobsDir,
      'claims',
      `${record.jobId}.${record.ownerPid}.${record.ownerToken ?? 'none'}.${record.takeovers ?? 0}`,
    );
    // Another process claimed it first: it is running there (its record says so once written).
    if (!(await createFileExclusive(claim, String(process.pid)))) return record;
    const registered = (await registry.listVersions(record.model).catch(() => [])).find(
      (v) => v.trainingJobId === record.jobId,
    );
    const takeovers = (record.takeovers ?? 0) + 1;
    if (registered) {
      const done: TrainingExperiment = {
        ...record,
        status: 'succeeded',
        progress: 1,
        version: registered.version,
        dataVersion: registered.dataVersion,
        metrics: registered.metrics,
        qualityGates: registered.qualityGates,
        bestParams: registered.params,
        finishedAt: now(),
        ownerPid: process.pid,
        takeovers,
      };
      await store.write(done);
      logger.warn(
        { jobId: record.jobId, deadOwner: record.ownerPid, version: registered.version },
        'a training job whose process died had registered its version; recorded it as succeeded',
      );
      return done;
    }
    const taken: TrainingExperiment = {
      ...record,
      status: 'running',
      progress: 0,
      ownerPid: process.pid,
      ownerToken: PROCESS_TOKEN,
      takeovers,
    };
    logger.warn(
      { jobId: record.jobId, deadOwner: record.ownerPid },
      'a training job whose process died is trained again here, under its id',
    );
    run(taken);
    await store.write(taken);
    return taken;
  }

  /** The job started under `key`: its record under the id the key gives, or (jobs of older builds) the id the key's index file names. */
  async function byKey(key: string): Promise<TrainingExperiment | undefined> {
    const keyed = await load(jobIdForKey(key));
    if (keyed) return keyed.idempotencyKey === key ? keyed : undefined;
    const legacy = await readFile(keyFile(key), 'utf8').catch(() => undefined);
    return legacy ? load(legacy.trim()) : undefined;
  }

  async function byIdempotencyKey(key: string, request: TrainingRequest): Promise<TrainingExperiment | undefined> {
    const existing = await byKey(key);
    if (existing && !sameRequest(existing, request)) {
      throw new UserError(
        `idempotency key "${key}" was already used for job ${existing.jobId} with a different request (model, dataset, params or searchTrials)`,
      );
    }
    return existing;
  }

  // Where builds before keyed job ids kept a key's job id; read only.
  const keyFile = (key: string) =>
    join(jobsDir, 'idempotency', `${createHash('sha256').update(key).digest('hex')}.txt`);

  function run(record: TrainingExperiment): void {
    const contract = contracts.forDataset(record.dataset);
    const worker = startTrainWorker({
      datasetsDir,
      dataset: record.dataset,
      params: record.params,
      searchTrials: record.searchTrials,
      gates,
      contract: contract ?? null,
      nowMs: clock.now(),
      checkedVersion: record.checkedVersion ?? null,
    });
    let settled = false;
    // Set when the worker posts its result: registering it is async and outlives the worker.
    let reported = false;
    const done = new Promise<void>((resolve) => {
      const finish = async (patch: Partial<TrainingExperiment>) => {
        if (settled) return;
        settled = true;
        Object.assign(record, patch, { finishedAt: now() });
        await store
          .write(record)
          .catch((err) => logger.error({ err, jobId: record.jobId }, 'could not persist the finished training job'));
        running.delete(record.jobId);
        logger.info(
          { jobId: record.jobId, status: record.status, version: record.version, error: record.error },
          'training job finished',
        );
        resolve();
        void worker.terminate();
      };
      worker.on('message', (message: TrainWorkerMessage) => {
        if (message.type === 'progress') {
          record.progress = Math.max(record.progress, Math.min(1, message.progress));
          void store
            .write(record)
            .catch((err) => logger.warn({ err, jobId: record.jobId }, 'could not persist training progress'));
        } else if (message.type === 'failed') {
          reported = true;
          void finish({ status: 'failed', error: message.message });
        } else {
          reported = true;
          const { outcome } = message;
          // The report on exactly the content trained on, under the contract in force; none if it was never checked.
          dataChecks
            .newest(outcome.dataVersion, contract?.hash ?? 'none')
            .then((report) => {
              record.dataQualityReport = report?.reportHash ?? null;
              return registry.registerVersion({
                model: record.model,
                dataset: record.dataset,
                dataVersion: outcome.dataVersion,
                dataQualityReport: record.dataQualityReport,
                params: { ...outcome.params },
                metrics: outcome.metrics,
                codeVersion: record.codeVersion,
                trainingJobId: record.jobId,
                createdBy: record.requestedBy,
                qualityGates: outcome.qualityGates,
                artifact: outcome.artifact,
              });
            })
            .then((version) =>
              finish({
                status: 'succeeded',
                progress: 1,
                version: version.version,
                dataVersion: outcome.dataVersion,
                trials: outcome.trials,
                bestParams: { ...outcome.params },
                metrics: outcome.metrics,
                qualityGates: outcome.qualityGates,
                durationMs: outcome.metrics.duration_ms ?? null,
              }),
            )
            .catch((err: unknown) =>
              finish({
                status: 'failed',
                error: `trained, but registering the version failed: ${(err as Error).message}`,
              }),
            );
        }
      });
      worker.on('error', (err) => void finish({ status: 'failed', error: `training worker crashed: ${err.message}` }));
      worker.on('exit', (code) => {
        // An exit before a result is posted would otherwise leave the job running forever.
        if (!settled && !reported)
          void finish({
            status: 'failed',
            error: closing
              ? 'stopped: the trainer was closed before the job finished'
              : `training worker exited with code ${code} before reporting a result`,
          });
      });
    });
    running.set(record.jobId, { worker, done });
  }

  /**
   * A model is retrained on the kind of data it was trained on: the lab's trainer would fit
   * quotes into the credit model's name (or credit rows into the signal's) without a word.
   * The kind is the data contract of the dataset its newest version was trained on.
   */
  async function refuseOtherKindOfData(model: string, dataset: string, contractName: string): Promise<void> {
    const versions = await registry.listVersions(model).catch((err: unknown) => {
      if (isNotFound(err)) return [];
      throw err;
    });
    const newest = versions.at(-1);
    const trainedUnder = newest ? contracts.forDataset(newest.dataset)?.name : undefined;
    if (trainedUnder && trainedUnder !== contractName)
      throw new UserError(
        `the trainer refuses to train ${model} on "${dataset}" (data contract ${contractName}): its versions were trained on ${trainedUnder} data ("${newest!.dataset}"); name a ${trainedUnder} dataset`,
        { code: 'input_invalid' },
      );
  }

  return {
    async start(request) {
      const params = parseTrainingParams(request.params ?? {});
      const searchTrials = request.searchTrials ?? 0;
      searchCandidates(params, searchTrials);
      if (!request.requestedBy) throw new UserError('a training request needs requestedBy: who asked for it');
      const file = datasetFile(datasetsDir, request.dataset);
      if (request.idempotencyKey) {
        const existing = await byIdempotencyKey(request.idempotencyKey, request);
        if (existing) return toJob(existing);
      }
      const found = await stat(file).catch(() => undefined);
      if (!found?.isFile())
        throw new UserError(`dataset "${request.dataset}" not found (looked for ${file})`, { code: 'not_found' });
      const contract = contracts.forDataset(request.dataset);
      if (!contract)
        throw new UserError(
          `the trainer refuses dataset "${request.dataset}": ${noContractViolation(request.dataset).message}`,
          { code: 'data_invalid' },
        );
      await refuseOtherKindOfData(request.model, request.dataset, contract.name);
      // A stored report on exactly this content decides at once; without one the worker checks it.
      const contentVersion = createHash('sha256')
        .update(await readFile(file))
        .digest('hex');
      const report = await dataChecks.newest(contentVersion, contract.hash);
      if (report && !report.verdict.passed) refuseBrokenData(contract, request.dataset, report.violations);
      await registry.createModel(request.model, `Created by a training request from ${request.requestedBy}`);

      const record: TrainingExperiment = {
        schemaVersion: 1,
        jobId: request.idempotencyKey
          ? jobIdForKey(request.idempotencyKey)
          : `job-${clock.now().toString(36)}-${randomBytes(4).toString('hex')}`,
        model: request.model,
        dataset: request.dataset,
        status: 'queued',
        progress: 0,
        startedAt: now(),
        finishedAt: null,
        version: null,
        error: null,
        params: { ...(request.params ?? {}) },
        searchTrials,
        requestedBy: request.requestedBy,
        idempotencyKey: request.idempotencyKey ?? null,
        ownerPid: process.pid,
        ownerToken: PROCESS_TOKEN,
        dataVersion: null,
        codeVersion: await codeVersion(),
        trials: [],
        bestParams: null,
        metrics: null,
        qualityGates: null,
        durationMs: null,
        contract: { name: contract.name, hash: contract.hash },
        dataQualityReport: null,
        checkedVersion: report ? contentVersion : null,
      };
      starting.add(record.jobId);
      try {
        if (!request.idempotencyKey) await store.write(record);
        else if (!(await createFileExclusive(store.file(record.jobId), `${JSON.stringify(record, null, 2)}\n`))) {
          // Another start with the same key won the race: that job is the answer.
          starting.delete(record.jobId);
          const winner = await byIdempotencyKey(request.idempotencyKey, request);
          if (!winner)
            throw new UserError(`idempotency key "${request.idempotencyKey}" points at a job that does not exist`);
          return toJob(winner);
        }
        // From here the job (and its key) is durable: the start is acknowledged.
        logger.info(
          { jobId: record.jobId, model: record.model, dataset: record.dataset, searchTrials },
          'training job started',
        );
        record.status = 'running';
        run(record);
      } finally {
        starting.delete(record.jobId);
      }
      await store.write(record);
      return toJob(record);
    },

    async get(jobId) {
      const record = await load(jobId);
      return record && toJob(record);
    },

    async lookup(key): Promise<KeyedWork<TrainingJob>> {
      const record = await byKey(key);
      if (!record) return { state: 'not_started' };
      return {
        state: record.status === 'queued' || record.status === 'running' ? 'started' : 'ended',
        work: toJob(record),
      };
    },

    getExperiment: load,

    async waitFor(jobId, { timeoutMs, signal }) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        signal?.throwIfAborted();
        const record = await load(jobId);
        if (!record) throw new UserError(`training job "${jobId}" not found`, { code: 'not_found' });
        const remaining = deadline - Date.now();
        if (record.status === 'succeeded' || record.status === 'failed' || remaining <= 0) return toJob(record);
        // Jobs of this process signal completion; others' are polled from their record.
        const local = running.get(jobId);
        const stop = new AbortController();
        const pause = sleep(local ? remaining : Math.min(remaining, 200), undefined, {
          signal: signal ? AbortSignal.any([signal, stop.signal]) : stop.signal,
        });
        try {
          await (local ? Promise.race([local.done, pause]) : pause);
        } catch (err) {
          if (!stop.signal.aborted) throw err;
        } finally {
          stop.abort();
          // The timer is cancelled now; its rejection is expected and not an error.
          pause.catch(() => undefined);
        }
      }
    },

    async close() {
      closing = true;
      const jobs = [...running.values()];
      await Promise.all(jobs.map((j) => j.worker.terminate()));
      await Promise.all(jobs.map((j) => j.done));
    },
  };
}
