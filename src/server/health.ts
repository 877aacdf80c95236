// /healthz: the process answers. /readyz: it can do its job: the audit log takes writes,
// and when Redis holds the queue, Redis answers and will not evict queued runs, and the
// queue's own connection is up.
import type { FastifyInstance } from 'fastify';
import type { AuditLog } from '../audit/index.js';
import type { RunQueue } from '../intake/index.js';
import { redactPaths } from '../public-message.js';

/** Returns null when ready, else what is wrong. */
export type ReadinessCheck = () => Promise<string | null>;

/** Runs can be enqueued now: a queue on Redis has its connection (readiness must not say 200 while webhooks get 503). */
export function queueReadiness(queue: Pick<RunQueue, 'unavailable'>): ReadinessCheck {
  return async () => {
    const why = queue.unavailable?.() ?? null;
    return why ? `run queue: ${why}` : null;
  };
}

/**
 * `detail`: what readiness does not hinge on but an operator wants to see beside it (an
 * LLM circuit breaker that is open: runs still go on, with their runbooks).
 */
export function registerHealth(
  app: FastifyInstance,
  deps: { audit: Pick<AuditLog, 'failed'>; checks?: ReadinessCheck[]; detail?: () => Record<string, unknown> },
): void {
  app.get('/healthz', { config: { public: true } }, async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    const problems: string[] = [];
    if (deps.audit.failed) problems.push(`the audit log is not writable: ${redactPaths(deps.audit.failed.message)}`);
    for (const check of deps.checks ?? []) {
      const problem = await check().catch((err: unknown) => `readiness check failed: ${String(err)}`);
      if (problem) problems.push(redactPaths(problem));
    }
    const detail = deps.detail?.() ?? {};
    if (problems.length > 0) return reply.code(503).send({ status: 'not_ready', problems, ...detail });
    return { status: 'ready', ...detail };
  });
}

/** The planners' circuit breakers for /readyz, when there are any. */
export function circuitDetail(metrics: { circuits(): { planner: string }[] }): () => Record<string, unknown> {
  return () => {
    const planners = metrics.circuits();
    return planners.length > 0 ? { planners } : {};
  };
}
