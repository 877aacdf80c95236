// A live line while a run waits for a long-running call (a training job, a canary step):
// on a terminal a spinner line rewritten in place (ora), on a pipe a plain line whenever
// what it says changes (at most every 5 s). It reads the lab the run acts on: the job's
// progress, the rollout's share and analyses, the requests the canary version has served.
import ora, { type Ora } from 'ora';
import type { TranscriptItem } from '../../agent/planner.js';
import type { Environment, Deployer, Trainer } from '../../../tools/index.js';
import { terminalSafe } from '../terminal-safe.js';

export interface ProgressSources {
  trainer: Pick<Trainer, 'get'>;
  deployer: Pick<Deployer, 'rollout'>;
  /** Requests a version has served since `sinceMs`; absent where the serving stats live in another process. */
  requestsServed?(model: string, environment: Environment, version: string, sinceMs: number): number;
}

type Handle = Record<string, unknown>;

/** The sources of a lab opened in this process (demo, chat): its trainer, deployer and serving stats. */
export function labProgressSources(lab: {
  trainer: ProgressSources['trainer'];
  deployer: ProgressSources['deployer'];
  stats: { window(model: string, environment: Environment, version: string, sinceMs?: number): { requests: number } };
}): ProgressSources {
  return {
    trainer: lab.trainer,
    deployer: lab.deployer,
    requestsServed: (model, environment, version, sinceMs) =>
      lab.stats.window(model, environment, version, sinceMs).requests,
  };
}

/** What the wait stands at now, in one line; null when there is nothing to read. */
export async function describeWait(
  sources: ProgressSources,
  name: string,
  handle: Handle,
  startedMs: number,
): Promise<string | null> {
  if (typeof handle.jobId === 'string') {
    const job = await sources.trainer.get(handle.jobId);
    return job ? `training ${job.jobId}: ${Math.round(job.progress * 100)}% (${job.status})` : null;
  }
  if (name === 'deploy_canary' && typeof handle.model === 'string' && typeof handle.environment === 'string') {
    const environment = handle.environment as Environment;
    const rollout = await sources.deployer.rollout(handle.model, environment);
    if (!rollout) return null;
    const version = rollout.canaryVersion ?? String(handle.version);
    const requests = sources.requestsServed
      ? `, ${sources.requestsServed(handle.model, environment, version, startedMs)} requests served by v${version} so far`
      : '';
    const passed = rollout.analyses.filter((a) => a.passed).length;
    return `canary v${version} at ${rollout.canaryPercent}% of ${rollout.targetPercent}% (${rollout.status})${requests}; analyses passed ${passed} of ${rollout.analyses.length}`;
  }
  return null;
}

export interface WaitProgress {
  /** Prints an item with `print`: the live line is taken down first, and started after a waiting result. */
  onItem(item: TranscriptItem, print: () => void): void;
  stop(): void;
}

export function createWaitProgress(
  sources: ProgressSources,
  options: { stream?: NodeJS.WriteStream; intervalMs?: number; plainEveryMs?: number } = {},
): WaitProgress {
  const stream = options.stream ?? process.stdout;
  // A terminal that reports no width (some pseudo-terminals) gets plain lines: ora sizes its
  // rewrite by the width and would never finish erasing on a width of 0.
  const tty = stream.isTTY === true && (stream.columns ?? 0) > 0;
  let timer: NodeJS.Timeout | null = null;
  let spinner: Ora | null = null;
  let lastPlain = { text: '', at: 0 };

  function stop(): void {
    if (timer) clearInterval(timer);
    timer = null;
    spinner?.stop();
    spinner = null;
  }

  function start(name: string, handle: Handle): void {
    const startedMs = Date.now();
    if (tty) spinner = ora({ stream, text: `waiting for ${name}…`, discardStdin: false }).start();
    const tick = async () => {
      const text = await describeWait(sources, name, handle, startedMs).catch(() => null);
      if (!text || !timer) return;
      const line = terminalSafe(`waiting   ${text}`);
      if (spinner) spinner.text = line;
      else if (line !== lastPlain.text && Date.now() - lastPlain.at >= (options.plainEveryMs ?? 5000)) {
        lastPlain = { text: line, at: Date.now() };
        stream.write(`          ${line}\n`);
      }
    };
    timer = setInterval(() => void tick(), options.intervalMs ?? 500);
    timer.unref();
  }

  return {
    onItem(item, print) {
      stop();
      print();
      if (
        item.kind === 'result' &&
        item.outcome.status === 'waiting' &&
        item.outcome.handle &&
        typeof item.outcome.handle === 'object'
      ) {
        start(item.name, item.outcome.handle as Handle);
      }
    },
    stop,
  };
}
