// The HTTP server of `mlops-agent serve`: Alertmanager webhooks, chat, runs, health,
// metrics and (optionally) MCP over Streamable HTTP. Each concern is one file here; this
// file wires them. The caller owns the queue, the worker and the runtime.
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { RunStore } from '../agent/run-store.js';
import type { Approvals } from '../approvals/index.js';
import type { SlackChannel } from '../slack/index.js';
import type { AuditLog, EvidenceExporter } from '../audit/index.js';
import type { IncidentIndex, RunQueue } from '../intake/index.js';
import type { Logger } from '../logger.js';
import type { McpHttpHandler } from '../mcp/index.js';
import { registerAlertRoutes } from './alerts.js';
import { registerApprovalRoutes } from './approvals.js';
import { registerAuth, registerOauthDiscovery404, type ApiToken } from './auth.js';
import { registerErrorHandler } from './errors.js';
import { registerEvidenceRoute } from './evidence.js';
import { circuitDetail, queueReadiness, registerHealth, type ReadinessCheck } from './health.js';
import { registerMcp } from './mcp.js';
import { createServerMetrics, registerHttpMetrics, type ServerMetrics } from './metrics.js';
import { createQueuedRuns } from './queued-runs.js';
import { registerRunRoutes } from './runs.js';
import { registerSlackRoutes, SLACK_PATHS } from './slack.js';

export type { ApiToken } from './auth.js';
export { createServerMetrics, decisionOf, type ServerMetrics } from './metrics.js';
export { createMetricsServer, type MetricsServerDeps } from './metrics-server.js';
export { redisReadiness } from './redis-readiness.js';
export { queueReadiness, type ReadinessCheck } from './health.js';

export interface ServerDeps {
  /** The audit log: /readyz reads its state; resolved alerts are recorded in it. */
  runtime: { audit: Pick<AuditLog, 'failed' | 'append'> };
  queue: RunQueue;
  runs: RunStore;
  /** Approvals over HTTP: list, show, decide. */
  approvals?: Approvals;
  tokens: readonly ApiToken[];
  logger: Logger;
  /** Larger bodies get 413 (default 1 MiB). */
  bodyLimitBytes?: number;
  /** Mounted at /mcp; it checks tokens and Origins itself. */
  mcp?: McpHttpHandler;
  /** Extra readiness checks (Redis). */
  readiness?: ReadinessCheck[];
  /** Pass the worker's metrics so runs it settles are counted; made here otherwise. */
  metrics?: ServerMetrics;
  /** The Slack app (connected to the runtime): mounts /v1/slack/interactions and /v1/slack/events. */
  slack?: SlackChannel;
  /** Which run handles each alert (Redis with BullMQ, files without); default in memory. */
  incidents?: IncidentIndex;
  /** A runbook's re-check interval for an alert name, or null: an incident stays handled until its alerts resolve. */
  recheckAfterMs?(alertName: string | undefined): number | null;
  /** Tools that change nothing, to tell what a resolved notice does to the run it joins. */
  readOnlyTools?: readonly string[];
  /** Mounts GET /v1/runs/:id/evidence (a run's evidence bundle, or its HTML report). */
  evidence?: EvidenceExporter;
}

export async function createServer(deps: ServerDeps): Promise<FastifyInstance> {
  const app = Fastify({
    // pino's Logger is a FastifyBaseLogger; the cast keeps the instance's type the default one.
    loggerInstance: deps.logger as FastifyBaseLogger,
    bodyLimit: deps.bodyLimitBytes ?? 1024 * 1024,
    // Webhook senders retry; a slow client must not hold a connection for ever.
    requestTimeout: 30_000,
  });
  const metrics = deps.metrics ?? createServerMetrics(deps.queue);
  const queued = createQueuedRuns();
  registerErrorHandler(app);
  registerHttpMetrics(app, metrics);
  // /mcp checks its tokens itself; Slack signs its requests instead of sending a token.
  registerAuth(app, deps.tokens, {
    skip: (route) =>
      (deps.mcp !== undefined && route === '/mcp') || (deps.slack !== undefined && SLACK_PATHS.has(route)),
  });
  registerOauthDiscovery404(app);
  registerHealth(app, {
    audit: deps.runtime.audit,
    checks: [queueReadiness(deps.queue), ...(deps.readiness ?? [])],
    detail: circuitDetail(metrics),
  });
  app.get('/metrics', { config: { scope: 'read' } }, async (_request, reply) =>
    reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()),
  );
  registerAlertRoutes(app, {
    queue: deps.queue,
    metrics,
    queued,
    audit: deps.runtime.audit,
    runs: deps.runs,
    readOnly: (tool) => deps.readOnlyTools?.includes(tool) ?? false,
    ...(deps.incidents ? { incidents: deps.incidents } : {}),
    ...(deps.recheckAfterMs ? { recheckAfterMs: deps.recheckAfterMs } : {}),
  });
  registerRunRoutes(app, { queue: deps.queue, runs: deps.runs, metrics, queued });
  if (deps.approvals) registerApprovalRoutes(app, { approvals: deps.approvals });
  if (deps.evidence) registerEvidenceRoute(app, { evidence: deps.evidence });
  if (deps.mcp) await registerMcp(app, deps.mcp);
  if (deps.slack) {
    const queue = deps.queue;
    await registerSlackRoutes(app, {
      slack: deps.slack,
      bodyLimitBytes: deps.bodyLimitBytes ?? 1024 * 1024,
      enqueue: async (trigger) => {
        const { runId } = await queue.enqueue(trigger);
        metrics.enqueued(trigger.kind, false);
        queued.add(runId, trigger);
        return { runId };
      },
    });
  }
  return app;
}
