// The alert webhooks: POST /v1/alerts/alertmanager (Alertmanager v4) and POST /v1/alerts
// (a generic JSON alert). A firing notice is enqueued with its coalescing key and answered
// 202 as soon as the queue has it. A resolved notice never starts a run: it is recorded
// on the run of its key (which may then end, see the agent loop) or, with no run to join,
// only in the audit log.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Trigger } from '../agent/run.js';
import type { AuditEntryInput } from '../audit/index.js';
import { alertmanagerTrigger, genericAlertTrigger, type RunQueue } from '../intake/index.js';
import type { ServerMetrics } from './metrics.js';
import type { QueuedRuns } from './queued-runs.js';

export interface AlertRouteDeps {
  queue: RunQueue;
  metrics: ServerMetrics;
  queued: QueuedRuns;
  audit: { append(entry: AuditEntryInput): Promise<unknown> };
}

interface Notice {
  trigger: Trigger;
  dedupeKey: string;
  status: 'firing' | 'resolved';
}

export function registerAlertRoutes(app: FastifyInstance, deps: AlertRouteDeps): void {
  async function accept(request: FastifyRequest, reply: FastifyReply, receiver: string, parse: () => Notice) {
    const stop = deps.metrics.webhookSeconds.startTimer({ receiver });
    let outcome = 'error';
    try {
      // A UserError naming the fields becomes a 400 in the error handler.
      const { trigger: parsed, dedupeKey, status } = parse();
      // The run acts as the alert's own principal, on behalf of the token that posted it:
      // that principal can never approve what the run asks for.
      const trigger = withRequester(parsed, request.principal);
      const log = { dedupeKey, alertName: trigger.alertName, receiver };
      if (status === 'resolved') {
        const runId = await deps.queue.join(trigger, dedupeKey);
        outcome = runId ? 'resolved_joined' : 'resolved_no_run';
        await deps.audit.append({ runId, principal: trigger.principal.id, kind: 'alert.resolved', data: { receiver, alertName: trigger.alertName ?? null, dedupeKey, joined: runId !== null } });
        if (runId) deps.metrics.enqueued(trigger.kind, true);
        request.log.info({ ...log, runId }, runId ? 'resolved alert recorded on its run' : 'resolved alert with no run to join; nothing started');
        const message = runId
          ? `recorded on run ${runId}; a run that has changed nothing yet ends there`
          : 'no queued, active or parked run for this alert, so nothing was started; recorded in the audit log';
        return reply.code(202).send({ runId, coalesced: runId !== null, message });
      }
      const { runId, coalesced } = await deps.queue.enqueue(trigger, { dedupeKey });
      outcome = coalesced ? 'coalesced' : 'enqueued';
      deps.metrics.enqueued(trigger.kind, coalesced);
      if (!coalesced) deps.queued.add(runId, trigger);
      request.log.info({ ...log, runId, coalesced }, 'alert accepted');
      return reply.code(202).send({ runId, coalesced });
    } finally {
      stop({ outcome });
    }
  }

  const needs = { config: { scope: 'alerts' as const } };
  app.post('/v1/alerts/alertmanager', needs, (request, reply) => accept(request, reply, 'alertmanager', () => alertmanagerTrigger(request.body)));
  app.post('/v1/alerts', needs, (request, reply) => accept(request, reply, 'generic', () => genericAlertTrigger(request.body, request.principal ?? 'anonymous')));
}

function withRequester(trigger: Trigger, requester: string | null): Trigger {
  return requester === null ? trigger : { ...trigger, principal: { ...trigger.principal, requester } };
}
