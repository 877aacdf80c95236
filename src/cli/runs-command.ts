// `mlops-agent runs list|show`: what the agent did, from the stored runs: in Redis when
// REDIS_URL is set (where serve and its workers keep them), else under the data dir.
import { join } from 'node:path';
import { Command, Option } from 'commander';
import { buildServingViews, describeServingView, ENVIRONMENTS, type Environment, type ServingView } from '../../tools/index.js';
import { RUN_STATUSES, type Run, type RunStatus } from '../agent/run.js';
import type { RunStore } from '../agent/run-store.js';
import { pendingApprovalsFrom } from '../approvals/index.js';
import { openBackendsForReading } from '../app/backends.js';
import { openApprovalStore, openRunStore } from '../app/stores.js';
import type { Config } from '../app/config.js';
import { describeError, isNotFound, UserError } from '../errors.js';
import { jsonSafe, terminalSafe } from './terminal-safe.js';
import { formatRunSummary, formatTranscriptItem } from './timeline.js';

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
  for (const item of run.transcript) if (item.kind === 'plan') for (const c of item.calls) note((c.args as Record<string, unknown> | null)?.model, (c.args as Record<string, unknown> | null)?.environment);
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
    .description('one line per run, oldest first')
    .addOption(new Option('--status <status>', 'only runs with this status').choices([...RUN_STATUSES]))
    .option('--json', 'print the runs as JSON lines')
    .action(async (opts: { status?: RunStatus; json?: boolean }) => {
      const found = await withStore((store) => store.list(opts.status ? { status: opts.status } : {}));
      for (const run of found) {
        process.stdout.write(
          opts.json ? `${jsonSafe(JSON.stringify(run))}\n` : `${terminalSafe(`${run.createdAt}  ${run.id}  ${run.status.padEnd(16)} ${run.trigger.kind.padEnd(8)} ${run.trigger.text}`)}\n`,
        );
      }
      if (!opts.json && found.length === 0) process.stdout.write('no runs\n');
    });

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
            problems.push(`${model}/${env}: ${isNotFound(err) ? '' : 'could not be read: '}${describeError(err)} (${read.where})`);
            break;
          }
        }
      }
    } finally {
      await approvals.close();
    }
    return { views, problems };
  }

  runs
    .command('show')
    .description('the run as a timeline: trigger, plans, each call with its decision, the answer, what the transcript shows it did; then what serves the models it named now')
    .argument('<id>', 'run id, as printed by chat, demo or runs list')
    .option('--json', 'print the stored run as JSON, with `servingNow`: the serving view of the models it named')
    .action(async (id: string, opts: { json?: boolean }) => {
      const run = await withStore((store) => store.get(id));
      if (!run) throw new UserError(`no run ${id} in ${where()}; see mlops-agent runs list`, { code: 'not_found' });
      const serving = await servingNow(run);
      if (opts.json) {
        process.stdout.write(`${jsonSafe(JSON.stringify({ ...run, servingNow: serving.views }, null, 2))}\n`);
        return;
      }
      for (const item of run.transcript) process.stdout.write(`${formatTranscriptItem(item, null)}\n`);
      process.stdout.write(`${formatRunSummary(run)}\n`);
      for (const view of serving.views) process.stdout.write(`serving now  ${terminalSafe(describeServingView(view))}\n`);
      for (const problem of serving.problems) process.stdout.write(`serving now  ${terminalSafe(problem)}\n`);
    });
  return runs;
}
