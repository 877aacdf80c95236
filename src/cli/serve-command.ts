// `mlops-agent serve`: the HTTP server (Alertmanager webhooks, chat, runs, health,
// metrics, MCP at /mcp) with an in-process worker that executes the queued runs.
import { Command, InvalidArgumentError } from 'commander';
import { allTools } from '../../tools/index.js';
import { createRedisRunStore } from '../agent/redis-run-store.js';
import type { Run } from '../agent/run.js';
import { createApprovalSweeper, createRedisApprovalStore } from '../approvals/index.js';
import { createSlackChannel } from '../approvals/slack/index.js';
import { openLocalLab } from '../backends/local/index.js';
import type { Config } from '../config.js';
import { agentRunHandler, createBullmqRunQueue, createLocalRunQueue, type RunQueue } from '../intake/index.js';
import type { Logger } from '../logger.js';
import { createMcpHttpHandler, createMcpServer } from '../mcp/index.js';
import { createRuntime } from '../runtime.js';
import { createServer, createServerMetrics, redisReadiness, type ReadinessCheck } from '../server/index.js';

function port(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('a port is an integer from 0 to 65535');
  return n;
}

export function serveCommand(deps: { config: () => Config; logger: () => Logger }): Command {
  return new Command('serve')
    .description('serve the Alertmanager webhook, chat and run endpoints, /metrics and MCP over HTTP, and execute the runs they queue')
    .option('--port <n>', 'port to listen on (default server.port, env PORT, 8080)', port)
    .option('--host <host>', 'address to listen on (default server.host, 127.0.0.1)')
    .addHelpText(
      'after',
      `
Every route but /healthz needs Authorization: Bearer <token> (MLOPS_AGENT_API_TOKEN, or
server.tokens in the config). With REDIS_URL the runs are queued on BullMQ and stored in
Redis; without it they are queued in memory and stored under MLOPS_AGENT_HOME/runs.`,
    )
    .action(async (opts: { port?: number; host?: string }) => {
      const config = deps.config();
      const logger = deps.logger();
      const lab = await openLocalLab({ config, logger });
      const redisRuns = config.redisUrl ? createRedisRunStore({ connection: config.redisUrl, prefix: 'mlops' }) : null;
      const redisApprovals = config.redisUrl ? createRedisApprovalStore({ connection: config.redisUrl, prefix: 'mlops' }) : null;
      // Slack's notifier must exist before the approvals service; its handlers need the service.
      const slack = config.slack ? createSlackChannel({ slack: config.slack, logger }) : null;
      const runtime = await createRuntime({
        config,
        logger,
        backends: lab,
        ...(redisRuns ? { runs: redisRuns } : {}),
        ...(redisApprovals ? { approvalStore: redisApprovals } : {}),
        ...(slack ? { notifiers: [slack.notifier] } : {}),
      });
      slack?.connect({ approvals: runtime.approvals, runs: runtime.runs, audit: runtime.audit });
      const onError = (runId: string | null, err: unknown) => logger.warn({ runId, err }, 'a run attempt failed');
      const queue: RunQueue = config.redisUrl
        ? createBullmqRunQueue({ connection: config.redisUrl, prefix: 'mlops', queueName: 'runs', onError })
        : createLocalRunQueue({ onError });
      const readiness: ReadinessCheck[] = [];
      const redisCheck = config.redisUrl ? redisReadiness(config.redisUrl) : null;
      if (redisCheck) readiness.push(redisCheck.check);
      const metrics = createServerMetrics(queue);
      const onSettled = (run: Run) => {
        metrics.settled(run);
        slack?.settled(run);
      };
      queue.process(agentRunHandler(runtime.agent, runtime.runs, { onSettled }), { concurrency: 2 });
      const sweeper = createApprovalSweeper({
        approvals: runtime.approvals,
        executeApproved: (approvalId) => runtime.gate.executeApproved(approvalId),
        runs: { resume: (runId) => queue.resume(runId), waiting: () => runtime.runs.list({ status: 'waiting_approval' }) },
        logger,
      });
      sweeper.start();

      const mcp =
        config.server.tokens.length > 0
          ? createMcpHttpHandler({
              tokens: Object.fromEntries(config.server.tokens.map((t) => [t.token, t.principal])),
              allowedOrigins: config.mcpAllowedOrigins,
              createServer: (principal) =>
                createMcpServer({ gate: runtime.gate, tools: allTools, runs: runtime.runs, approvals: runtime.approvals, auditFile: config.auditFile, runbooks: runtime.runbooks, principalFor: () => principal, logger }),
              logger,
            })
          : undefined;
      const app = await createServer({
        runtime,
        queue,
        runs: runtime.runs,
        approvals: runtime.approvals,
        tokens: config.server.tokens,
        logger,
        bodyLimitBytes: config.server.bodyLimitBytes,
        readiness,
        metrics,
        ...(mcp ? { mcp } : {}),
        ...(slack ? { slack } : {}),
      });

      let closing: Promise<void> | null = null;
      const shutdown = (why: string) =>
        (closing ??= (async () => {
          logger.info({ why }, 'server stopping');
          await app.close().catch((err: unknown) => logger.warn({ err }, 'closing the HTTP server failed'));
          await mcp?.close().catch((err: unknown) => logger.warn({ err }, 'closing MCP sessions failed'));
          await sweeper.stop();
          await queue.close({ force: true }).catch((err: unknown) => logger.warn({ err }, 'closing the run queue failed'));
          await slack?.idle();
          await redisCheck?.close();
          await redisRuns?.close().catch((err: unknown) => logger.warn({ err }, 'closing the Redis run store failed'));
          await runtime.close();
          await redisApprovals?.close().catch((err: unknown) => logger.warn({ err }, 'closing the Redis approval store failed'));
          await lab.close();
        })());
      const done = new Promise<void>((resolve) => {
        for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => void shutdown(signal).then(resolve));
      });

      const address = await app.listen({ port: opts.port ?? config.server.port, host: opts.host ?? config.server.host });
      process.stdout.write(`mlops-agent serving on ${address} (queue: ${config.redisUrl ? 'BullMQ on Redis' : 'in-process'}; ${config.server.tokens.length} API token(s))\n`);
      process.stdout.write(
        config.slack
          ? `Slack: approval requests go to ${config.slack.approvalChannel}; ${Object.keys(config.slack.users).length} Slack user(s) mapped to identities\n`
          : 'Slack is not configured (SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET, SLACK_APPROVAL_CHANNEL): approval requests are not posted to Slack; decide them over HTTP or with the CLI.\n',
      );
      if (config.server.tokens.length === 0) logger.warn('no API tokens are configured (MLOPS_AGENT_API_TOKEN or server.tokens): every request but /healthz is refused, and /mcp is not mounted');
      await done;
    });
}
