// `mlops-agent serve`: the HTTP server (alert webhooks, chat, runs, health, metrics, MCP
// at /mcp), the schedules, and (unless worker.inProcess is false) an in-process worker
// that executes the queued runs.
import { join } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { allTools } from '../../tools/index.js';
import type { Config } from '../app/config.js';
import { createRedisIncidentIndex, openFileIncidentIndex, scheduleFromConfig, type ScheduleSync } from '../intake/index.js';
import { recheckAfterMs } from '../runbooks/index.js';
import type { Logger } from '../logger.js';
import { createMcpHttpHandler, createMcpServer } from '../mcp/index.js';
import { createServer, redisReadiness, type ReadinessCheck } from '../server/index.js';
import { closeAgentProcess, openAgentProcess, resumeInterrupted, startWorking, untilSignalled } from '../app/agent-process.js';
import { auditTail, evidenceExporter } from '../app/evidence-sources.js';

function port(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('a port is an integer from 0 to 65535');
  return n;
}

export function serveCommand(deps: { config: () => Config; logger: () => Logger }): Command {
  return new Command('serve')
    .description('serve the alert webhooks, chat and run endpoints, /metrics and MCP over HTTP, start the configured schedules, and execute the runs they queue')
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
      const agent = await openAgentProcess(config, logger, { executesRuns: config.worker.inProcess });
      const { queue, metrics, runtime } = agent;
      const readiness: ReadinessCheck[] = [];
      const redisCheck = config.redisUrl ? redisReadiness(config.redisUrl) : null;
      if (redisCheck) readiness.push(redisCheck.check);

      let schedules: ScheduleSync;
      try {
        // The config is the whole truth about schedules: any other one in Redis is removed.
        schedules = await queue.setSchedules(config.schedules.map(scheduleFromConfig));
        if (config.worker.inProcess) {
          startWorking(agent, config.worker.concurrency);
          await resumeInterrupted(agent, logger);
        }
      } catch (err) {
        // Open connections would keep the process alive after the error is reported.
        await redisCheck?.close();
        await closeAgentProcess(agent, 0, logger);
        throw err;
      }
      if (schedules.removed.length > 0) logger.info({ removed: schedules.removed }, 'removed schedules that are no longer in the config');

      const mcp =
        config.server.tokens.length > 0
          ? createMcpHttpHandler({
              tokens: config.server.tokens,
              allowedOrigins: config.mcpAllowedOrigins,
              allowedHosts: config.server.mcp.allowedHosts,
              sessionsPerPrincipal: config.server.mcp.sessionsPerPrincipal,
              idleTimeoutMs: config.server.mcp.idleTimeoutMs,
              maxBodyBytes: config.server.bodyLimitBytes,
              createServer: (principal, caller) =>
                createMcpServer({
                  gate: runtime.gate,
                  tools: allTools,
                  runs: runtime.runs,
                  approvals: runtime.approvals,
                  auditFile: config.auditFile,
                  auditTail: auditTail(config, logger),
                  runbooks: runtime.runbooks,
                  principalFor: () => principal,
                  readsAll: caller.scopes.has('read'),
                  logger,
                }),
              logger,
            })
          : undefined;
      // One incident, one run: which run handles each alert outlives this process (Redis, or files beside the queue's journal).
      const incidents = config.redisUrl ? createRedisIncidentIndex({ connection: config.redisUrl, prefix: config.queue.prefix }) : openFileIncidentIndex(join(config.home, 'incidents'));
      const app = await createServer({
        runtime,
        queue,
        incidents,
        recheckAfterMs: (alertName) => recheckAfterMs(runtime.runbooks, alertName),
        readOnlyTools: allTools.filter((t) => t.annotations.readOnly).map((t) => t.name),
        runs: runtime.runs,
        approvals: runtime.approvals,
        tokens: config.server.tokens,
        logger,
        bodyLimitBytes: config.server.bodyLimitBytes,
        readiness,
        metrics,
        ...(mcp ? { mcp } : {}),
        ...(agent.slack ? { slack: agent.slack } : {}),
        evidence: evidenceExporter(config, agent, logger),
      });

      let handedBack = 0;
      const shutdown = async (why: string) => {
        logger.info({ why, graceMs: config.worker.shutdownGraceMs }, 'server stopping');
        await app.close().catch((err: unknown) => logger.warn({ err }, 'closing the HTTP server failed'));
        await mcp?.close().catch((err: unknown) => logger.warn({ err }, 'closing MCP sessions failed'));
        await redisCheck?.close();
        await incidents.close();
        handedBack = (await closeAgentProcess(agent, config.worker.shutdownGraceMs, logger)).handedBack.length;
      };
      const done = untilSignalled(logger, shutdown);

      let address: string;
      try {
        address = await app.listen({ port: opts.port ?? config.server.port, host: opts.host ?? config.server.host });
      } catch (err) {
        // A port in use: report it, and close what is open so the process can end.
        await shutdown('listen failed');
        throw err;
      }
      const worker = config.worker.inProcess ? `in-process worker, ${config.worker.concurrency} at a time` : 'no in-process worker: runs wait for mlops-agent worker';
      process.stdout.write(
        `mlops-agent serving on ${address} (queue: ${config.redisUrl ? 'BullMQ on Redis' : 'in-process'}; ${worker}; ${schedules.active.length} schedule(s); ${config.server.tokens.length} API token(s))\n`,
      );
      process.stdout.write(
        config.slack
          ? `Slack: approval requests go to ${config.slack.approvalChannel}; ${Object.keys(config.slack.users).length} Slack user(s) mapped to identities\n`
          : 'Slack is not configured (SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET, SLACK_APPROVAL_CHANNEL): approval requests are not posted to Slack; decide them over HTTP or with the CLI.\n',
      );
      if (config.server.tokens.length === 0) logger.warn('no API tokens are configured (MLOPS_AGENT_API_TOKEN or server.tokens): every request but /healthz is refused, and /mcp is not mounted');
      await done;
      // A handed-back run's handler is still pending; it must not go on after the hand-over.
      if (handedBack > 0) process.exit(0);
    });
}
