// `mlops-agent chat "question"`: one chat run against the local lab, printed as it happens.
import { userInfo } from 'node:os';
import { Command } from 'commander';
import { buildChat } from '../app/app.js';
import type { Config } from '../app/config.js';
import type { Logger } from '../logger.js';
import { exitCodeForRun } from './exit-codes.js';
import { createWaitProgress, labProgressSources, type WaitProgress } from './output/progress.js';
import { formatRunSummary, formatTranscriptItem } from './timeline.js';

export function chatCommand(deps: { config: () => Config; logger: () => Logger }): Command {
  return new Command('chat')
    .description(
      'ask the agent a question or give it a task; prints the plan, each tool call with the policy decision, and the answer',
    )
    .argument('<question...>', 'what you want, e.g. "which version of credit-risk is champion and how good is it?"')
    .option('--principal <id>', 'who is asking, as the policy sees it', `user:${userInfo().username}`)
    .option('--json', 'print the finished run as JSON instead of the timeline')
    .action(async (words: string[], opts: { principal: string; json?: boolean }) => {
      const config = deps.config();
      const logger = deps.logger();
      let progress: WaitProgress | null = null;
      const app = await buildChat(config, logger, {
        ...(opts.json
          ? {}
          : {
              onEvent: (run, item) => {
                const line = () => process.stdout.write(`${formatTranscriptItem(item, run.updatedAt)}\n`);
                if (progress) progress.onItem(item, line);
                else line();
              },
            }),
      });
      const { runtime } = app;
      // The run starts below, so the line exists before its first item.
      progress = createWaitProgress(labProgressSources({ ...app.backends.backends, stats: app.backends.lab.stats }));
      try {
        const text = words.join(' ');
        const run = await runtime.agent.start({
          kind: 'chat',
          principal: { id: opts.principal, roles: [] },
          text,
          data: { question: text },
        });
        process.stdout.write(opts.json ? `${JSON.stringify(run, null, 2)}\n` : `${formatRunSummary(run)}\n`);
        process.exitCode = exitCodeForRun(run.status);
      } finally {
        progress?.stop();
        await app.close();
      }
    });
}
