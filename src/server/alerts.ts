// POST /v1/alerts/alertmanager: validate with the intake's schema, enqueue with the group
// key as the coalescing key, answer 202 as soon as the trigger is durable in the queue.
import type { FastifyInstance } from 'fastify';
import { alertmanagerTrigger, type RunQueue } from '../intake/index.js';
import type { ServerMetrics } from './metrics.js';
import type { QueuedRuns } from './queued-runs.js';

export function registerAlertRoutes(app: FastifyInstance, deps: { queue: RunQueue; metrics: ServerMetrics; queued: QueuedRuns }): void {
  app.post('/v1/alerts/alertmanager', async (request, reply) => {
    const stop = deps.metrics.webhookSeconds.startTimer({ receiver: 'alertmanager' });
    let outcome = 'error';
    try {
      // A UserError naming the fields becomes a 400 in the error handler.
      const { trigger, dedupeKey } = alertmanagerTrigger(request.body);
      const { runId, coalesced } = await deps.queue.enqueue(trigger, { dedupeKey });
      outcome = coalesced ? 'coalesced' : 'enqueued';
      deps.metrics.enqueued(trigger.kind, coalesced);
      if (!coalesced) deps.queued.add(runId, trigger);
      request.log.info({ runId, coalesced, dedupeKey, alertName: trigger.alertName }, 'alertmanager webhook accepted');
      return reply.code(202).send({ runId, coalesced });
    } finally {
      stop({ outcome });
    }
  });
}
