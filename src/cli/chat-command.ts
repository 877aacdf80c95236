// `mlops-agent chat "question"`: one chat run against the local lab, printed as it happens.
import { userInfo } from 'node:os';
import { Command } from 'commander';
import { openLocalLab } from '../backends/local/index.js';
import type { Config } from '../config.js';
import { UserError } from '../errors.js';
import type { Logger } from '../logger.js';
import { createLlmPlanner, createRuntime, HOW_TO_CONFIGURE_LLM } from '../runtime.js';
import { exitCodeForRun } from './exit-codes.js';
import { createWaitProgress, labProgressSources } from './output/progress.js';
import { formatRunSummary, formatTranscriptItem } from './timeline.js';

export function chatCommand(deps: { config: () => Config; logger: () => Logger }): Command {
  return new Command('chat')
    .description('ask the agent a question or give it a task; prints the plan, each tool call with the policy decision, and the answer')
    .argument('<question...>', 'what you want, e.g. "which version of credit-risk is champion and how good is it?"')
    .option('--principal <id>', 'who is asking, as the policy sees it', `user:${userInfo().username}`)
    .option('--json', 'print the finished run as JSON instead of the timeline')
    .action(async (words: string[], opts: { principal: string; json?: boolean }) => {
      const config = deps.config();
      const logger = deps.logger();
      if (!createLlmPlanner(config.llm, logger)) {
        throw new UserError(`mlops-agent chat needs an LLM to plan.\n${HOW_TO_CONFIGURE_LLM}`, { code: 'config_invalid' });
      }
      const lab = await openLocalLab({ config, logger });
      const progress = createWaitProgress(labProgressSources(lab));
      const runtime = await createRuntime({
        config,
        logger,
        backends: lab,
        onEvent: opts.json
          ? undefined
          : (run, item) => {
              progress.onItem(item, () => process.stdout.write(`${formatTranscriptItem(item, run.updatedAt)}\n`));
            },
      });
      try {
        const text = words.join(' ');
        const run = await runtime.agent.start({ kind: 'chat', principal: { id: opts.principal, roles: [] }, text, data: { question: text } });
        process.stdout.write(opts.json ? `${JSON.stringify(run, null, 2)}\n` : `${formatRunSummary(run)}\n`);
        process.exitCode = exitCodeForRun(run.status);
      } finally {
        progress.stop();
        await runtime.close();
        await lab.close();
      }
    });
}
