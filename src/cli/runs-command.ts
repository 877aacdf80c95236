// `mlops-agent runs list|show`: what the agent did, from the runs stored under the data dir.
import { join } from 'node:path';
import { Command, Option } from 'commander';
import type { RunStatus } from '../agent/run.js';
import { createFileRunStore } from '../agent/run-store.js';
import type { Config } from '../config.js';
import { UserError } from '../errors.js';
import { formatRunSummary, formatTranscriptItem } from './timeline.js';

const STATUSES: RunStatus[] = ['running', 'waiting_approval', 'succeeded', 'failed', 'refused'];

export function runsCommand(deps: { config: () => Config }): Command {
  const runs = new Command('runs').description('list stored runs and show one with its whole transcript');
  const store = () => createFileRunStore(join(deps.config().home, 'runs'));

  runs
    .command('list')
    .description('one line per run, oldest first')
    .addOption(new Option('--status <status>', 'only runs with this status').choices(STATUSES))
    .option('--json', 'print the runs as JSON lines')
    .action(async (opts: { status?: RunStatus; json?: boolean }) => {
      const found = await store().list(opts.status ? { status: opts.status } : {});
      for (const run of found) {
        process.stdout.write(opts.json ? `${JSON.stringify(run)}\n` : `${run.createdAt}  ${run.id}  ${run.status.padEnd(16)} ${run.trigger.kind.padEnd(8)} ${run.trigger.text}\n`);
      }
      if (!opts.json && found.length === 0) process.stdout.write('no runs\n');
    });

  runs
    .command('show')
    .description('the run as a timeline: trigger, plans, each call with its decision, the answer')
    .argument('<id>', 'run id, as printed by chat, demo or runs list')
    .option('--json', 'print the stored run as JSON')
    .action(async (id: string, opts: { json?: boolean }) => {
      const run = await store().get(id);
      if (!run) throw new UserError(`no run ${id} under ${join(deps.config().home, 'runs')}; see mlops-agent runs list`, { code: 'not_found' });
      if (opts.json) {
        process.stdout.write(`${JSON.stringify(run, null, 2)}\n`);
        return;
      }
      for (const item of run.transcript) process.stdout.write(`${formatTranscriptItem(item, null)}\n`);
      process.stdout.write(`${formatRunSummary(run)}\n`);
    });
  return runs;
}
