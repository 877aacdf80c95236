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

export function registerHealth(app: FastifyInstance, deps: { audit: Pick<AuditLog, 'failed'>; checks?: ReadinessCheck[] }): void {
  app.get('/healthz', { config: { public: true } }, async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    const problems: string[] = [];
    if (deps.audit.failed) problems.push(`the audit log is not writable: ${redactPaths(deps.audit.failed.message)}`);
    for (const check of deps.checks ?? []) {
      const problem = await check().catch((err: unknown) => `readiness check failed: ${String(err)}`);
      if (problem) problems.push(redactPaths(problem));
    }
    if (problems.length > 0) return reply.code(503).send({ status: 'not_ready', problems });
    return { status: 'ready' };
  });
}
