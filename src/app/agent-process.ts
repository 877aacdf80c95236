// What `serve` and `worker` share: the run queue the config asks for, the runtime that
// executes runs (with /metrics fed from its audit entries and the loop reading the
// triggers that join a run), approvals (their store, the Slack channel, the sweeper that
// acts on decisions and expiry), the sweeper that resumes runs whose long-running calls
// ended, and a shutdown that gives active runs a grace period.
import { join } from 'node:path';
import { allTools } from '../../tools/index.js';
import { abandonRun } from '../agent/abandoned-runs.js';
import { isParked, type Run } from '../agent/run.js';
import { createWaitSweeper, type WaitSweeper } from '../agent/wait-sweeper.js';
import { createApprovalSweeper, type ApprovalSweeper } from '../approvals/index.js';
import { createSlackChannel, type SlackChannel } from '../slack/index.js';
import { systemClock } from '../clock.js';
import { openBackendsOnRunningLab } from './backends.js';
import type { OpenedBackends } from '../backends/from-config.js';
import type { LabBackends } from '../backends/local/index.js';
import type { Config } from './config.js';
import {
  agentRunHandler,
  createBullmqRunQueue,
  createLocalRunQueue,
  openQueueJournal,
  type RunQueue,
} from '../intake/index.js';
import type { Logger } from '../logger.js';
import { createRuntime, type Runtime } from './runtime.js';
import { openStores, runtimeStores, type Stores } from './stores.js';
import { createServerMetrics, type ServerMetrics } from '../server/index.js';
import { queueErrorLog } from './queue-error-log.js';

export interface AgentProcess {
  queue: RunQueue;
  metrics: ServerMetrics;
  runtime: Runtime;
  backends: OpenedBackends<LabBackends>;
  /** Runs, approvals and execution records: in Redis with the queue when shared, else files under <home>. */
  stores: Stores;
  /** Posts approval requests and chat answers; null when Slack is not configured. */
  slack: SlackChannel | null;
  /** Resumes decided runs, executes granted direct calls, expires what waited too long. */
  sweeper: ApprovalSweeper;
  /**
   * Resumes runs whose long-running calls ended or ran out of time; only in a process that
   * executes runs (the lab that runs the work is that process's).
   */
  waits: WaitSweeper | null;
  logger: Logger;
}

/** The queue's name under `queue.prefix`; every process sharing a Redis uses it. */
export const QUEUE_NAME = 'runs';

/** A Redis URL fit for logs: the password, if any, is not printed. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString().replace(/\/$/, '');
  } catch {
    return '(unparseable URL)';
  }
}

export function createRunQueueFromConfig(config: Config, logger: Logger): RunQueue {
  const onError = queueErrorLog(logger, systemClock);
  const retry = { attempts: config.queue.attempts, backoffMs: config.queue.backoffMs };
  if (!config.redisUrl) {
    // Runs acknowledged and not yet settled are on disk: the next start queues them again.
    const journal = openQueueJournal(join(config.home, 'queue'), (file, err) =>
      logger.warn({ file, err }, 'a queued-run file could not be read; it was set aside and not queued'),
    );
    if (journal.left.length > 0)
      logger.info(
        { runs: journal.left.map((e) => e.runId) },
        'queueing again the runs the last process accepted and did not finish',
      );
    return createLocalRunQueue({ ...retry, onError, journal });
  }
  return createBullmqRunQueue({
    connection: config.redisUrl,
    prefix: config.queue.prefix,
    queueName: QUEUE_NAME,
    ...retry,
    // A dead worker's run is taken over once its lock lapses and a stalled check sees it.
    lockDuration: config.worker.lockDurationMs,
    stalledInterval: config.worker.lockDurationMs,
    maxStalledCount: config.worker.maxStalls,
    onError,
  });
}

/** `executesRuns`: this process will call startWorking (a worker, or serve with its in-process worker). */
export async function openAgentProcess(
  config: Config,
  logger: Logger,
  { executesRuns }: { executesRuns: boolean },
): Promise<AgentProcess> {
  const queue = createRunQueueFromConfig(config, logger);
  const metrics = createServerMetrics(queue, { tools: allTools.map((t) => t.name), executesRuns });
  const stores = openStores(config);
  // Slack's notifier must exist before the approvals service; its handlers need the service.
  const slack = config.slack ? createSlackChannel({ slack: config.slack, logger }) : null;
  let backends: OpenedBackends<LabBackends> | null = null;
  try {
    // While `mlops-agent lab up` runs on this home, its deployer and model servers are the lab's.
    backends = await openBackendsOnRunningLab(config, logger);
    const runtime = await createRuntime({
      config,
      logger,
      backends: backends.backends,
      ...runtimeStores(stores),
      ...(slack ? { notifiers: [slack.notifier] } : {}),
      joined: (runId, from) => queue.joined(runId, from),
      onAudit: (entry, seconds) => {
        metrics.auditAppended(seconds);
        metrics.audited(entry);
      },
      // A run waiting for training or a canary frees its worker; the wait sweeper resumes it.
      longWaits: 'park',
    });
    metrics.observeCircuits(runtime.circuits);
    metrics.observeApprovals(async () => (await runtime.approvals.list({ status: 'pending' })).length);
    slack?.connect({ approvals: runtime.approvals, runs: runtime.runs, audit: runtime.audit });
    // Every process sweeps: whichever acts first wins, and a grant is consumed once.
    const sweeper = createApprovalSweeper({
      approvals: runtime.approvals,
      executeApproved: (approvalId) => runtime.gate.executeApproved(approvalId),
      runs: {
        resume: (runId) => queue.resume(runId),
        waiting: () => runtime.runs.list({ status: 'waiting_approval' }),
      },
      mootChecks: executesRuns,
      logger,
    });
    sweeper.start();
    const waits = executesRuns
      ? createWaitSweeper({
          gate: runtime.gate,
          runs: runtime.runs,
          resume: (runId) => queue.resume(runId),
          clock: systemClock,
          logger,
        })
      : null;
    waits?.start();
    return { queue, metrics, runtime, backends, stores, slack, sweeper, waits, logger };
  } catch (err) {
    // Open connections would keep the process alive after the error is reported.
    await queue.close({ force: true }).catch(() => undefined);
    await stores.close(logger);
    await backends?.close().catch(() => undefined);
    throw err;
  }
}

/** Starts executing queued runs in this process. */
export function startWorking(p: AgentProcess, concurrency: number): void {
  const onSettled = (run: Run) => {
    p.metrics.settled(run);
    p.slack?.settled(run);
    // The fast path: the work runs in this process, and its end resumes the run at once.
    if (isParked(run.status)) p.waits?.watch(run);
  };
  const onGaveUp = (runId: string, reason: string) => {
    abandonRun({ runs: p.runtime.runs, audit: p.runtime.audit, clock: systemClock }, runId, reason)
      .then((run) => {
        if (!run) return;
        p.logger.error({ runId, reason }, 'the run queue gave up on a run; it is marked failed');
        onSettled(run);
      })
      .catch((err: unknown) =>
        p.logger.error(
          { err, runId, reason },
          'the run queue gave up on a run, and marking it failed failed too; it still shows running',
        ),
      );
  };
  p.queue.process(agentRunHandler(p.runtime.agent, p.runtime.runs, { onSettled }), { concurrency, onGaveUp });
}

/**
 * The in-process queue forgets its runs when the process stops; a stored run still
 * `running` was cut off by the last shutdown, so it is queued again under its id and
 * resumed where its transcript ends. (With Redis, BullMQ hands such runs over itself.)
 */
export async function resumeInterrupted(p: AgentProcess, logger: Logger): Promise<number> {
  if (p.stores.shared) return 0;
  const interrupted = await p.runtime.runs.list({ status: 'running' });
  for (const run of interrupted) await p.queue.resume(run.id);
  if (interrupted.length > 0)
    logger.info({ runs: interrupted.map((r) => r.id) }, 'resuming runs the last shutdown interrupted');
  return interrupted.length;
}

/**
 * Stops taking runs, gives active ones `graceMs` to finish, then closes everything. Runs
 * still active are handed back (logged by id); the caller must then exit the process, or
 * their handlers would go on beside the worker that takes them over.
 */
export async function closeAgentProcess(
  p: AgentProcess,
  graceMs: number,
  logger: Logger,
): Promise<{ handedBack: string[] }> {
  await p.sweeper.stop();
  await p.waits?.stop();
  const { handedBack } = await p.queue.close({ graceMs }).catch((err: unknown) => {
    logger.warn({ err }, 'closing the run queue failed');
    return { handedBack: [] as string[] };
  });
  if (handedBack.length > 0) {
    const where = p.stores.shared
      ? 'another worker takes them over once their lock lapses'
      : 'they resume at the next start';
    logger.warn({ runs: handedBack, graceMs }, `runs still active after the shutdown grace were handed back: ${where}`);
  }
  // Slack acknowledged clicks and owes their work; let it finish before the audit log closes.
  await p.slack?.idle();
  await p.runtime.close().catch((err: unknown) => logger.warn({ err }, 'closing the audit log failed'));
  await p.stores.close(logger);
  await p.backends.close().catch((err: unknown) => logger.warn({ err }, 'closing the backends failed'));
  return { handedBack };
}

/**
 * Resolves after the first SIGTERM or SIGINT has run `shutdown`; a second signal during
 * the grace period exits at once, for an operator who will not wait.
 */
export function untilSignalled(logger: Logger, shutdown: (why: string) => Promise<void>): Promise<void> {
  return new Promise((resolve) => {
    let started = false;
    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      process.on(signal, () => {
        if (started) {
          logger.warn({ signal }, 'second signal: exiting now without waiting for active runs');
          process.exit(1);
        }
        started = true;
        void shutdown(signal).then(resolve);
      });
    }
  });
}
