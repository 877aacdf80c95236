// The small HTTP server of `mlops-agent worker`: /metrics for Prometheus (a worker's runs,
// tool calls and tokens are counted where they happen), /healthz and /readyz. The same
// bearer tokens as `serve` guard everything but /healthz.
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { AuditLog } from '../audit/index.js';
import type { Logger } from '../logger.js';
import { registerAuth, type ApiToken } from './auth.js';
import { registerErrorHandler } from './errors.js';
import { circuitDetail, registerHealth, type ReadinessCheck } from './health.js';
import { registerHttpMetrics, type ServerMetrics } from './metrics.js';

export interface MetricsServerDeps {
  metrics: ServerMetrics;
  audit: Pick<AuditLog, 'failed'>;
  tokens: readonly ApiToken[];
  logger: Logger;
  readiness?: ReadinessCheck[];
}

export async function createMetricsServer(deps: MetricsServerDeps): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    bodyLimit: 64 * 1024,
    requestTimeout: 30_000,
  });
  registerErrorHandler(app);
  registerHttpMetrics(app, deps.metrics);
  registerAuth(app, deps.tokens);
  registerHealth(app, { audit: deps.audit, checks: deps.readiness ?? [], detail: circuitDetail(deps.metrics) });
  app.get('/metrics', { config: { scope: 'read' } }, async (_request, reply) =>
    reply.type(deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics()),
  );
  await app.ready();
  return app;
}
