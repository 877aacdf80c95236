// The composition root: the one place that builds the system from the config, one typed
// app per role. It chooses the stores once (stores.ts), opens the backends (backends.ts),
// builds the runtime, the Slack channel, the sweepers and the servers. Commands in
// src/cli parse their arguments, call a builder here, and print.
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { allTools } from '../../tools/index.js';
import type { Run } from '../agent/run.js';
import type { TranscriptItem } from '../agent/planner.js';
import { createApprovalSweeper, type ApprovalSweeper } from '../approvals/index.js';
import { UserError } from '../errors.js';
import {
  createRedisIncidentIndex,
  openFileIncidentIndex,
  scheduleFromConfig,
  type ScheduleSync,
} from '../intake/index.js';
import type { Logger } from '../logger.js';
import { createMcpHttpHandler, createMcpServer, principalFromClientName, type McpHttpHandler } from '../mcp/index.js';
import { recheckAfterMs } from '../runbooks/index.js';
import {
  createMetricsServer,
  createServer,
  queueReadiness,
  redisReadiness,
  type ReadinessCheck,
} from '../server/index.js';
import {
  closeAgentProcess,
  openAgentProcess,
  resumeInterrupted,
  startWorking,
  type AgentProcess,
} from './agent-process.js';
import { openBackends, type LabOverrides, type OpenedBackends } from './backends.js';
import type { Config } from './config.js';
import { auditTail, evidenceExporter } from './evidence-sources.js';
import { createLlmPlanner, createRuntime, HOW_TO_CONFIGURE_LLM, type Runtime } from './runtime.js';
import { openStores, runtimeStores } from './stores.js';

/** `serve`: the HTTP server, the schedules, and (unless worker.inProcess is false) an in-process worker. */
export interface ServeApp {
  agent: AgentProcess;
  http: FastifyInstance;
  schedules: ScheduleSync;
  /** Stops serving, gives active runs `graceMs`, closes everything; returns the runs handed back. */
  close(graceMs: number): Promise<{ handedBack: string[] }>;
}

export async function buildServe(config: Config, logger: Logger): Promise<ServeApp> {
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
  if (schedules.removed.length > 0)
    logger.info({ removed: schedules.removed }, 'removed schedules that are no longer in the config');

  const mcp: McpHttpHandler | undefined =
    config.server.tokens.length > 0
      ? createMcpHttpHandler({
          tokens: config.server.tokens,
          allowedOrigins: config.mcpAllowedOrigins,
          allowedHosts: config.server.mcp.allowedHosts,
          sessionsPerPrincipal: config.server.mcp.sessionsPerPrincipal,
          idleTimeoutMs: config.server.mcp.idleTimeoutMs,
          maxBodyBytes: config.server.bodyLimitBytes,
          createServer: (principal, caller) =>
            mcpServerFor(config, logger, runtime, {
              principalFor: () => principal,
              readsAll: caller.scopes.has('read'),
            }),
          logger,
        })
      : undefined;
  // One incident, one run: which run handles each alert outlives this process (Redis, or files beside the queue's journal).
  const incidents = config.redisUrl
    ? createRedisIncidentIndex({ connection: config.redisUrl, prefix: config.queue.prefix })
    : openFileIncidentIndex(join(config.home, 'incidents'));
  const http = await createServer({
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
  return {
    agent,
    http,
    schedules,
    async close(graceMs) {
      await http.close().catch((err: unknown) => logger.warn({ err }, 'closing the HTTP server failed'));
      await mcp?.close().catch((err: unknown) => logger.warn({ err }, 'closing MCP sessions failed'));
      await redisCheck?.close();
      await incidents.close();
      return closeAgentProcess(agent, graceMs, logger);
    },
  };
}

/** `worker`: executes the runs queued on Redis; /metrics on worker.metricsPort when set. */
export interface WorkerApp {
  agent: AgentProcess;
  metricsServer: Awaited<ReturnType<typeof createMetricsServer>> | null;
  close(graceMs: number): Promise<{ handedBack: string[] }>;
}

export const WORKER_NEEDS_REDIS = [
  'mlops-agent worker needs Redis, where serve queues the runs: set REDIS_URL (e.g. export REDIS_URL=redis://127.0.0.1:6379/0)',
  'or redisUrl in the config. Without Redis, `mlops-agent serve` executes the runs itself and no worker is needed.',
].join('\n');

export async function buildWorker(config: Config, logger: Logger): Promise<WorkerApp> {
  if (!config.redisUrl) throw new UserError(WORKER_NEEDS_REDIS, { code: 'config_invalid' });
  const agent = await openAgentProcess(config, logger, { executesRuns: true });
  const redisCheck = redisReadiness(config.redisUrl);
  const metricsServer =
    config.worker.metricsPort !== undefined
      ? await createMetricsServer({
          metrics: agent.metrics,
          audit: agent.runtime.audit,
          tokens: config.server.tokens,
          logger,
          readiness: [queueReadiness(agent.queue), redisCheck.check],
        })
      : null;
  return {
    agent,
    metricsServer,
    async close(graceMs) {
      await metricsServer?.close().catch((err: unknown) => logger.warn({ err }, 'closing the metrics server failed'));
      await redisCheck.close();
      return closeAgentProcess(agent, graceMs, logger);
    },
  };
}

/** `mcp` over stdio: the tools behind the gate for one client; runs belong to serve's workers. */
export interface McpApp {
  server: McpServer;
  runtime: Runtime;
  close(): Promise<void>;
}

function mcpServerFor(
  config: Config,
  logger: Logger,
  runtime: Runtime,
  who: { principalFor: Parameters<typeof createMcpServer>[0]['principalFor']; readsAll: boolean },
): McpServer {
  return createMcpServer({
    gate: runtime.gate,
    tools: allTools,
    runs: runtime.runs,
    approvals: runtime.approvals,
    auditFile: config.auditFile,
    auditTail: auditTail(config, logger),
    runbooks: runtime.runbooks,
    ...who,
    logger,
  });
}

export async function buildMcp(config: Config, logger: Logger): Promise<McpApp> {
  // The same stores as serve and its workers: with Redis, people decide these approvals there.
  const stores = openStores(config);
  const backends = await openBackends(config, logger);
  const runtime = await createRuntime({ config, logger, backends: backends.backends, ...runtimeStores(stores) });
  // The client runs this command as the operator, on the operator's machine and data.
  const server = mcpServerFor(config, logger, runtime, {
    principalFor: ({ name }) => principalFromClientName(name),
    readsAll: true,
  });
  // Expires this client's approvals in time and executes the granted ones (at most once,
  // whichever process gets there first); runs belong to serve's workers.
  const sweeper: ApprovalSweeper = createApprovalSweeper({
    approvals: runtime.approvals,
    executeApproved: (id) => runtime.gate.executeApproved(id),
    logger,
    intervalMs: 1000,
  });
  sweeper.start();
  return {
    server,
    runtime,
    async close() {
      await server.close().catch((err: unknown) => logger.warn({ err }, 'closing the mcp server failed'));
      await sweeper.stop();
      await runtime.close();
      await stores.close(logger);
      await backends.close();
    },
  };
}

/** `chat` and `demo`: one runtime for runs that start and end in this process. */
export interface LocalApp {
  runtime: Runtime;
  backends: OpenedBackends;
  close(): Promise<void>;
}

async function buildLocal(
  config: Config,
  logger: Logger,
  onEvent: ((run: Run, item: TranscriptItem) => void) | undefined,
  lab: LabOverrides = {},
): Promise<LocalApp> {
  const stores = openStores(config);
  const backends = await openBackends(config, logger, lab);
  const runtime = await createRuntime({
    config,
    logger,
    backends: backends.backends,
    ...runtimeStores(stores),
    ...(onEvent ? { onEvent } : {}),
  });
  return {
    runtime,
    backends,
    async close() {
      await runtime.close();
      await stores.close(logger);
      await backends.close();
    },
  };
}

export async function buildChat(
  config: Config,
  logger: Logger,
  options: { onEvent?: (run: Run, item: TranscriptItem) => void },
): Promise<LocalApp> {
  if (!createLlmPlanner(config.llm, logger)) {
    throw new UserError(`mlops-agent chat needs an LLM to plan.\n${HOW_TO_CONFIGURE_LLM}`, { code: 'config_invalid' });
  }
  return buildLocal(config, logger, options.onEvent);
}

/** The demo's lab is its own (rebuilt under `lab.home` each time); the audit log and stores are the operator's. */
export async function buildDemo(
  config: Config,
  logger: Logger,
  options: { onEvent: (run: Run, item: TranscriptItem) => void; lab: LabOverrides },
): Promise<LocalApp> {
  return buildLocal(config, logger, options.onEvent, options.lab);
}
