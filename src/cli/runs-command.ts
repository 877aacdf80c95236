// `mlops-agent runs list|show`: what the agent did, from the stored runs: in Redis when
// REDIS_URL is set (where serve and its workers keep them), else under the data dir.
import { join } from 'node:path';
import { Command, Option } from 'commander';
import { createRedisRunStore } from '../agent/redis-run-store.js';
import { RUN_STATUSES, type RunStatus } from '../agent/run.js';
import { createFileRunStore, type RunStore } from '../agent/run-store.js';
import type { Config } from '../config.js';
import { UserError } from '../errors.js';
import { jsonSafe, terminalSafe } from './terminal-safe.js';
import { formatRunSummary, formatTranscriptItem } from './timeline.js';

export function runsCommand(deps: { config: () => Config }): Command {
  const runs = new Command('runs').description('list stored runs and show one with its whole transcript');
  const where = () => {
    const config = deps.config();
    return config.redisUrl ? `Redis (prefix ${config.queue.prefix})` : join(config.home, 'runs');
  };
  async function withStore<T>(use: (store: RunStore) => Promise<T>): Promise<T> {
    const config = deps.config();
    if (!config.redisUrl) return use(createFileRunStore(join(config.home, 'runs')));
    const store = createRedisRunStore({ connection: config.redisUrl, prefix: config.queue.prefix });
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

  runs
    .command('show')
    .description('the run as a timeline: trigger, plans, each call with its decision, the answer')
    .argument('<id>', 'run id, as printed by chat, demo or runs list')
    .option('--json', 'print the stored run as JSON')
    .action(async (id: string, opts: { json?: boolean }) => {
      const run = await withStore((store) => store.get(id));
      if (!run) throw new UserError(`no run ${id} in ${where()}; see mlops-agent runs list`, { code: 'not_found' });
      if (opts.json) {
        process.stdout.write(`${jsonSafe(JSON.stringify(run, null, 2))}\n`);
        return;
      }
      for (const item of run.transcript) process.stdout.write(`${formatTranscriptItem(item, null)}\n`);
      process.stdout.write(`${formatRunSummary(run)}\n`);
    });
  return runs;
}
