// `mlops-agent runs list|show`: what the agent did, from the stored runs: in Redis when
// REDIS_URL is set (where serve and its workers keep them), else under the data dir.
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Command, Option } from 'commander';
import {
  buildServingViews,
  describeServingView,
  ENVIRONMENTS,
  type Environment,
  type ServingView,
} from '../../tools/index.js';
import { RUN_STATUSES, type Run, type RunStatus } from '../agent/run.js';
import type { RunStore } from '../agent/run-store.js';
import { pendingApprovalsFrom } from '../approvals/index.js';
import { openBackendsForReading } from '../app/backends.js';
import { openApprovalStore, openRunStore } from '../app/stores.js';
import type { Config } from '../app/config.js';
import { openAuditReader } from '../audit/index.js';
import { silentLogger } from '../logger.js';
import { describeError, isNotFound, UserError } from '../errors.js';
import { formatOf, outputOption, renderListing, type Column, type OutputFormat } from './output/listing.js';
import { parseLimit, parseSince } from './output/option-values.js';
import { createWaitProgress } from './output/progress.js';
import { auditEntriesOf, transcriptTimes } from './output/run-times.js';
import { dim, status } from './output/style.js';
import { jsonSafe, terminalSafe } from './terminal-safe.js';
import { formatRunSummary, formatTranscriptItem } from './timeline.js';

const RUN_COLUMNS: Column<Run>[] = [
  { header: 'CREATED', value: (r) => r.createdAt.replace('T', ' ').slice(0, 19), style: dim },
  { header: 'ID', value: (r) => r.id },
  { header: 'STATUS', value: (r) => r.status, style: (text, r) => status(r.status, text) },
  { header: 'TRIGGER', value: (r) => r.trigger.kind },
  { header: 'STEPS', value: (r) => String(r.steps), align: 'right' },
  { header: 'PLANNER', value: (r) => r.planner, max: 28 },
  { header: 'WHAT', value: (r) => r.trigger.text, max: 60 },
];

/** A run still under way: `runs show --follow` keeps reading it. Parked runs wait for people or jobs. */
const UNDER_WAY = new Set<RunStatus>(['running', 'waiting', 'waiting_approval']);

/** The models a run named (in its alert's labels or its calls' arguments), each with the environments named, or all. */
export function modelsOf(run: Run): Map<string, Set<Environment>> {
  const named = new Map<string, Set<Environment>>();
  const note = (model: unknown, environment: unknown) => {
    if (typeof model !== 'string' || model === '') return;
    const envs = named.get(model) ?? new Set<Environment>();
    if (ENVIRONMENTS.includes(environment as Environment)) envs.add(environment as Environment);
    named.set(model, envs);
  };
  const labels = (run.trigger.data as { labels?: Record<string, unknown> } | null)?.labels;
  if (labels) note(labels.model, labels.environment);
  for (const item of run.transcript)
    if (item.kind === 'plan')
      for (const c of item.calls)
        note(
          (c.args as Record<string, unknown> | null)?.model,
          (c.args as Record<string, unknown> | null)?.environment,
        );
  for (const [model, envs] of named) if (envs.size === 0) named.set(model, new Set(ENVIRONMENTS));
  return named;
}

export function runsCommand(deps: { config: () => Config }): Command {
  const runs = new Command('runs').description('list stored runs and show one with its whole transcript');
  const where = () => {
    const config = deps.config();
    return config.redisUrl ? `Redis (prefix ${config.queue.prefix})` : join(config.home, 'runs');
  };
  async function withStore<T>(use: (store: RunStore) => Promise<T>): Promise<T> {
    const store = openRunStore(deps.config());
    try {
      return await use(store);
    } finally {
      await store.close();
    }
  }

  runs
    .command('list')
    .description('the newest runs first, a page at a time (an index, not a scan: as fast at 20,000 runs as at 20)')
    .addOption(new Option('--status <status>', 'only runs with this status').choices([...RUN_STATUSES]))
    .option('--limit <n>', 'how many runs to show', parseLimit, 20)
    .option('--since <when>', 'only runs created since then: a duration (30m, 2h, 7d) or an ISO date', (v: string) =>
      parseSince(v),
    )
    .addOption(outputOption())
    .option('--json', 'the same as -o jsonl (one run a line; kept for older scripts)')
    .action(
      async (opts: { status?: RunStatus; limit: number; since?: string; output: OutputFormat; json?: boolean }) => {
        const found = await withStore((store) =>
          store.recent({
            limit: opts.limit,
            ...(opts.status ? { status: opts.status } : {}),
            ...(opts.since ? { since: opts.since } : {}),
          }),
        );
        const format = formatOf(opts);
        process.stdout.write(renderListing(found, format, RUN_COLUMNS, 'no runs'));
        if ((format === 'table' || format === 'wide') && found.length === opts.limit) {
          process.stdout.write(dim(`the newest ${found.length}; older ones with --limit or --since\n`));
        }
      },
    );

  /**
   * What serves the models the run named, now: the same view the deployment_status tool
   * gives, read from the lab under the data dir (read-only) and the stored approvals.
   */
  async function servingNow(run: Run): Promise<{ views: ServingView[]; problems: string[] }> {
    const config = deps.config();
    const read = await openBackendsForReading(config);
    const approvals = openApprovalStore(config);
    const backends = { ...read.backends, approvals: pendingApprovalsFrom((filter) => approvals.list(filter)) };
    const views: ServingView[] = [];
    const problems: string[] = [];
    try {
      for (const [model, envs] of modelsOf(run)) {
        for (const env of envs) {
          try {
            views.push(...(await buildServingViews(backends, model, env)));
          } catch (err) {
            problems.push(
              `${model}/${env}: ${isNotFound(err) ? '' : 'could not be read: '}${describeError(err)} (${read.where})`,
            );
            break;
          }
        }
      }
    } finally {
      await approvals.close();
    }
    return { views, problems };
  }

  /** Times of the run's items from its audit entries; none (and a note why) when the log cannot be read. */
  async function timesOf(run: Run): Promise<(string | null)[]> {
    const reader = openAuditReader(deps.config(), silentLogger);
    try {
      return transcriptTimes(run, await auditEntriesOf(reader, run.id));
    } catch (err) {
      process.stderr.write(
        `${terminalSafe(`times not shown: the audit log (${reader.location}) could not be read: ${describeError(err)}`)}\n`,
      );
      return run.transcript.map(() => null);
    } finally {
      await reader.close();
    }
  }

  /** Prints the run's new items as they are saved, until it ends; the interval is how often it reads the store. */
  async function follow(run: Run, intervalMs: number): Promise<Run> {
    // While the run waits for a training job or a canary step, a live line says how far it
    // got, read from the lab under the data dir (the run itself only says "waiting").
    const read = await openBackendsForReading(deps.config());
    const progress = createWaitProgress({ trainer: read.backends.trainer, deployer: read.backends.deployer });
    const last = run.transcript.at(-1);
    if (last) progress.onItem(last, () => undefined);
    let shown = run.transcript.length;
    try {
      for (;;) {
        await sleep(intervalMs);
        const now = await withStore((store) => store.get(run.id));
        if (!now) throw new UserError(`run ${run.id} is no longer in ${where()}`, { code: 'not_found' });
        for (const item of now.transcript.slice(shown))
          progress.onItem(item, () => process.stdout.write(`${formatTranscriptItem(item, now.updatedAt)}\n`));
        shown = now.transcript.length;
        if (!UNDER_WAY.has(now.status)) return now;
      }
    } finally {
      progress.stop();
    }
  }

  runs
    .command('show')
    .description(
      'the run as a timeline: trigger, plans, each call with its decision, the answer, what the transcript shows it did; then what serves the models it named now',
    )
    .argument('<id>', 'run id, as printed by chat, demo or runs list')
    .option('--json', 'print the stored run as JSON, with `servingNow`: the serving view of the models it named')
    .option(
      '-f, --follow',
      'for a run under way: print its new steps as they happen, with a live line while it waits for training or a canary step, until it ends (Ctrl-C stops watching, not the run)',
    )
    .action(async (id: string, opts: { json?: boolean; follow?: boolean }) => {
      let run = await withStore((store) => store.get(id));
      if (!run) throw new UserError(`no run ${id} in ${where()}; see mlops-agent runs list`, { code: 'not_found' });
      if (opts.json && opts.follow)
        throw new UserError('--follow prints a timeline; --json prints the run as stored once: use one of them', {
          code: 'input_invalid',
        });
      if (opts.json) {
        const serving = await servingNow(run);
        process.stdout.write(`${jsonSafe(JSON.stringify({ ...run, servingNow: serving.views }, null, 2))}\n`);
        return;
      }
      const times = await timesOf(run);
      run.transcript.forEach((item, i) => process.stdout.write(`${formatTranscriptItem(item, times[i] ?? null)}\n`));
      if (opts.follow && UNDER_WAY.has(run.status)) {
        process.stdout.write(dim(`${terminalSafe(`following run ${id} (${run.status}); Ctrl-C stops watching`)}\n`));
        run = await follow(run, 1000);
      }
      const serving = await servingNow(run);
      process.stdout.write(`${formatRunSummary(run)}\n`);
      for (const view of serving.views)
        process.stdout.write(`serving now  ${terminalSafe(describeServingView(view))}\n`);
      for (const problem of serving.problems) process.stdout.write(`serving now  ${terminalSafe(problem)}\n`);
    });
  return runs;
}
