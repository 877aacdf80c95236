// `mlops-agent serve`: the HTTP server (alert webhooks, chat, runs, health, metrics, MCP
// at /mcp), the schedules, and (unless worker.inProcess is false) an in-process worker
// that executes the queued runs. The app room builds it all; this parses and prints.
import { Command, InvalidArgumentError } from 'commander';
import { buildServe } from '../app/app.js';
import type { Config } from '../app/config.js';
import type { Logger } from '../logger.js';
import { untilSignalled } from '../app/agent-process.js';

function port(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw new InvalidArgumentError('a port is an integer from 0 to 65535');
  return n;
}

export function serveCommand(deps: { config: () => Config; logger: () => Logger }): Command {
  return new Command('serve')
    .description(
      'serve the alert webhooks, chat and run endpoints, /metrics and MCP over HTTP, start the configured schedules, and execute the runs they queue',
    )
    .option('--port <n>', 'port to listen on (default server.port, env PORT, 8080)', port)
    .option('--host <host>', 'address to listen on (default server.host, 127.0.0.1)')
    .addHelpText(
      'after',
      `
Every route but /healthz needs Authorization: Bearer <token> (MLOPS_AGENT_API_TOKEN, or
server.tokens in the config). With REDIS_URL the runs are queued on BullMQ and stored in
Redis, and \`mlops-agent worker\` processes can execute them too (worker.inProcess: false
leaves them all to workers); without it they are queued in memory, journaled under
MLOPS_AGENT_HOME/queue until settled (a crash loses none), and stored under
MLOPS_AGENT_HOME/runs. Schedules in the config are set on start; ones taken out are removed.
SIGTERM stops taking runs and gives active ones worker.shutdownGraceMs to finish.`,
    )
    .action(async (opts: { port?: number; host?: string }) => {
      const config = deps.config();
      const logger = deps.logger();
      const app = await buildServe(config, logger);
      const { schedules } = app;

      let handedBack = 0;
      const shutdown = async (why: string) => {
        logger.info({ why, graceMs: config.worker.shutdownGraceMs }, 'server stopping');
        handedBack = (await app.close(config.worker.shutdownGraceMs)).handedBack.length;
      };
      const done = untilSignalled(logger, shutdown);

      let address: string;
      try {
        address = await app.http.listen({
          port: opts.port ?? config.server.port,
          host: opts.host ?? config.server.host,
        });
      } catch (err) {
        // A port in use: report it, and close what is open so the process can end.
        await shutdown('listen failed');
        throw err;
      }
      const worker = config.worker.inProcess
        ? `in-process worker, ${config.worker.concurrency} at a time`
        : 'no in-process worker: runs wait for mlops-agent worker';
      process.stdout.write(
        `mlops-agent serving on ${address} (queue: ${config.redisUrl ? 'BullMQ on Redis' : 'in-process'}; ${worker}; ${schedules.active.length} schedule(s); ${config.server.tokens.length} API token(s))\n`,
      );
      process.stdout.write(
        config.slack
          ? `Slack: approval requests go to ${config.slack.approvalChannel}; ${Object.keys(config.slack.users).length} Slack user(s) mapped to identities\n`
          : 'Slack is not configured (SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET, SLACK_APPROVAL_CHANNEL): approval requests are not posted to Slack; decide them over HTTP or with the CLI.\n',
      );
      if (config.server.tokens.length === 0)
        logger.warn(
          'no API tokens are configured (MLOPS_AGENT_API_TOKEN or server.tokens): every request but /healthz is refused, and /mcp is not mounted',
        );
      await done;
      // A handed-back run's handler is still pending; it must not go on after the hand-over.
      if (handedBack > 0) process.exit(0);
    });
}
