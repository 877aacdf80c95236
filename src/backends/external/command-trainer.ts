// The `command` trainer: each job runs a program the team already has (a training script,
// `mlflow run`), started without a shell from an argv template filled from the call. The
// command reports on stdout, one JSON object per line: {"progress": 0.4} as it goes, and
// at the end {"version": "7"} (the registered version) or {"runId": "…"} (an MLflow run,
// turned into its registered version by the registry). Exit 0 with such a line succeeds;
// anything else fails the job with the command's own words.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { systemClock, type Clock } from '../../clock.js';
import type { Logger } from '../../logger.js';
import { ownerGone } from '../../process-identity.js';
import type { Trainer, TrainingJob, TrainingRequest } from '../../../tools/ports.js';
import type { CommandTrainerSettings } from '../settings.js';
import {
  checkSameRequest,
  createJobRecords,
  finished,
  jobReads,
  newJobRecord,
  toJob,
  type JobRecord,
} from './job-records.js';
import { applyReport, parseReportLine, type VersionOfRun } from './training-report.js';

export interface CommandTrainer extends Trainer {
  /** Stops commands still running (their jobs fail as stopped) and waits for them to exit. */
  close(): Promise<void>;
}

export interface CommandTrainerOptions {
  settings: CommandTrainerSettings;
  /** Where job records are kept. */
  dir: string;
  /** The agent's environment: only PATH, HOME, LANG and TMPDIR of it reach the command. */
  env: NodeJS.ProcessEnv;
  logger: Logger;
  clock?: Clock;
  versionOfRun?: VersionOfRun;
  /** How often a job run by another process is read again while waiting (default 500 ms). */
  pollIntervalMs?: number;
}

const INHERITED = ['PATH', 'HOME', 'LANG', 'TMPDIR'] as const;
/** After SIGTERM, how long a command has to exit before SIGKILL. */
const KILL_GRACE_MS = 5000;
const STDERR_KEPT = 2000;

/** The argv with every {placeholder} filled from the job; each stays one argument, whatever it holds. */
export function fillArgv(argv: readonly string[], record: JobRecord): string[] {
  const values: Record<string, string> = {
    model: record.model,
    dataset: record.dataset,
    params: JSON.stringify(record.params),
    searchTrials: String(record.searchTrials),
    requestedBy: record.requestedBy,
    jobId: record.jobId,
    idempotencyKey: record.idempotencyKey ?? '',
  };
  return argv.map((arg) => arg.replace(/\{([A-Za-z]+)\}/g, (whole, name: string) => values[name] ?? whole));
}

export function createCommandTrainer(options: CommandTrainerOptions): CommandTrainer {
  const { settings, logger } = options;
  const clock = options.clock ?? systemClock;
  const records = createJobRecords(join(options.dir, 'jobs'));
  const running = new Map<string, { child: ChildProcess; done: Promise<JobRecord> }>();
  const pollIntervalMs = options.pollIntervalMs ?? 500;
  let stopping = false;

  const env: Record<string, string> = {};
  for (const name of INHERITED) if (options.env[name] !== undefined) env[name] = options.env[name]!;
  Object.assign(env, settings.env);

  /** A job whose process died mid-command cannot be known to have finished: it is failed, saying so. */
  async function load(jobId: string): Promise<JobRecord | undefined> {
    const record = await records.read(jobId);
    if (!record || finished(record) || running.has(jobId) || !ownerGone(record.owner)) return record;
    const lost: JobRecord = {
      ...record,
      status: 'failed',
      finishedAt: new Date(clock.now()).toISOString(),
      error: `the agent process that ran the training command (pid ${record.owner.pid}) stopped before the command finished; whether it registered a version is unknown: look in the registry for job ${record.jobId}, then retrain if nothing was registered`,
    };
    await records.write(lost);
    logger.warn({ jobId, deadOwner: record.owner.pid }, 'a command training job whose process died was marked failed');
    return lost;
  }

  function run(record: JobRecord): Promise<JobRecord> {
    const argv = fillArgv(settings.argv, record);
    let current: JobRecord = { ...record, status: 'running' };
    let stderr = '';
    let lastReport: ReturnType<typeof parseReportLine> = null;
    let timedOut = false;
    let buffered = '';
    const child = spawn(argv[0]!, argv.slice(1), {
      shell: false,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...env, MLOPS_AGENT_JOB_ID: record.jobId, MLOPS_AGENT_IDEMPOTENCY_KEY: record.idempotencyKey ?? '' },
      ...(settings.cwd ? { cwd: settings.cwd } : {}),
    });
    // One write at a time, in order: a late progress write must never overwrite the end.
    let writes = Promise.resolve();
    const persist = () =>
      (writes = writes
        .then(() => records.write(current))
        .catch((err: unknown) => logger.warn({ err, jobId: record.jobId }, 'could not persist the training job')));
    void persist();
    const onLine = (line: string) => {
      const report = parseReportLine(line);
      if (!report) return;
      if (report.progress !== undefined && report.progress > current.progress) {
        current = { ...current, progress: report.progress };
        void persist();
      }
      if (report.version !== undefined || report.runId !== undefined || report.error !== undefined) lastReport = report;
    };
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      buffered += chunk;
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        onLine(buffered.slice(0, nl));
        buffered = buffered.slice(nl + 1);
      }
    });
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-STDERR_KEPT);
    });
    let killTimer: NodeJS.Timeout | undefined;
    const timeout = setTimeout(() => {
      timedOut = true;
      child.kill('SIGTERM');
      killTimer = setTimeout(() => child.kill('SIGKILL'), KILL_GRACE_MS);
      killTimer.unref();
    }, settings.timeoutMs);
    timeout.unref();

    const done = new Promise<JobRecord>((resolve) => {
      let ended = false;
      const end = async (failure: string | null) => {
        if (ended) return;
        ended = true;
        clearTimeout(timeout);
        if (killTimer) clearTimeout(killTimer);
        if (buffered.trim() !== '') onLine(buffered);
        const result = failure
          ? { ...current, status: 'failed' as const, error: failure }
          : await applyReport(current, lastReport, options.versionOfRun, 'the training command');
        current = {
          ...result,
          finishedAt: new Date(clock.now()).toISOString(),
          ...(result.status === 'succeeded' ? { progress: 1 } : {}),
        };
        await persist();
        running.delete(record.jobId);
        logger.info(
          { jobId: record.jobId, status: current.status, version: current.version, error: current.error },
          'command training job finished',
        );
        resolve(current);
      };
      // A program that cannot be started reports only 'error'; one that ran reports 'close'.
      child.once('error', (err) => {
        if (child.pid === undefined) void end(`could not start training command "${argv[0]}": ${err.message}`);
      });
      child.once('close', (code, signal) => {
        const stderrTail = stderr.trim() ? `: ${stderr.trim().split('\n').slice(-5).join(' | ')}` : '';
        void end(
          stopping
            ? 'the agent shut down while the training command ran; the command was stopped'
            : timedOut
              ? `training command timed out after ${settings.timeoutMs} ms and was stopped`
              : code !== 0
                ? `training command exited with ${signal ? `signal ${signal}` : `code ${code}`}${stderrTail}`
                : null,
        );
      });
    });
    running.set(record.jobId, { child, done });
    return done;
  }

  return {
    async start(request: TrainingRequest): Promise<TrainingJob> {
      const record = newJobRecord(request, clock.now());
      // The key is durable with the job before the command starts.
      const kept = await records.create(record);
      if (!kept.created) {
        checkSameRequest(kept.record, request);
        return toJob((await load(kept.record.jobId)) ?? kept.record);
      }
      logger.info(
        { jobId: record.jobId, model: record.model, dataset: record.dataset },
        'command training job started',
      );
      void run(record);
      return toJob(record);
    },
    ...jobReads(load, (jobId) => (running.has(jobId) ? 50 : pollIntervalMs)),
    async close() {
      stopping = true;
      const active = [...running.values()];
      for (const { child } of active) child.kill('SIGTERM');
      await Promise.all(active.map((a) => a.done));
    },
  };
}
