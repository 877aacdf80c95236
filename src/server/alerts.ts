// The alert webhooks: POST /v1/alerts/alertmanager (Alertmanager v4, Grafana's webhook)
// and POST /v1/alerts (a generic JSON alert). A run answers an incident, not a
// notification: a notice whose firing alerts a run already handles starts nothing and is
// recorded as joined (its run still goes on) or duplicate (it ended); see
// intake/incidents.ts. A resolved notice never starts a run: it is recorded on the run of
// its group, or, with no run to join, only in the audit log. Every answer is 202 once what
// the notice did is durable, and says what that was.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { changingCalls } from '../agent/joined-triggers.js';
import { isFinished, type Run, type Trigger } from '../agent/run.js';
import type { AuditEntryInput } from '../audit/index.js';
import { systemClock } from '../clock.js';
import {
  alertmanagerTrigger,
  createIncidentIntake,
  createMemoryIncidentIndex,
  genericAlertTrigger,
  type AlertNotice,
  type IncidentIndex,
  type IntakeResult,
  type RunQueue,
} from '../intake/index.js';
import type { ServerMetrics } from './metrics.js';
import type { QueuedRuns } from './queued-runs.js';

export interface AlertRouteDeps {
  queue: RunQueue;
  metrics: ServerMetrics;
  queued: QueuedRuns;
  audit: { append(entry: AuditEntryInput): Promise<unknown> };
  /** Which run handles each alert (default: in memory, for tests). */
  incidents?: IncidentIndex;
  /** A runbook's re-check interval for an alert name, or null (see IncidentIntakeDeps). */
  recheckAfterMs?(alertName: string | undefined): number | null;
  /** Reads the run a resolved notice joined, to say what the notice will do to it. */
  runs?: { get(id: string): Promise<Run | undefined> };
  /** Which tools change nothing (a run that used only these ends on a resolved notice). */
  readOnly?(tool: string): boolean;
}

export function registerAlertRoutes(app: FastifyInstance, deps: AlertRouteDeps): void {
  const intake = createIncidentIntake({
    queue: deps.queue,
    index: deps.incidents ?? createMemoryIncidentIndex(),
    audit: deps.audit,
    clock: systemClock,
    ...(deps.recheckAfterMs ? { recheckAfterMs: deps.recheckAfterMs } : {}),
  });

  /** What a resolved notice does to the run it joined, from that run as stored now. */
  async function resolvedEffect(runId: string): Promise<string> {
    const run = await deps.runs?.get(runId).catch(() => undefined);
    if (run && isFinished(run.status))
      return `recorded on run ${runId}, which had already ended (${run.status}); nothing changed`;
    const changed = run ? changingCalls(run, deps.readOnly ?? (() => false)) : [];
    if (changed.length > 0)
      return `recorded on run ${runId}, which has already started work (${changed.join(', ')}): it does not end for this notice, it carries on and decides whether its remaining steps are still needed`;
    return `recorded on run ${runId}, which has changed nothing yet: it ends before its next step, without acting`;
  }

  async function answer(result: IntakeResult): Promise<Record<string, unknown>> {
    const { incident, runId, coalesced } = result;
    switch (result.incident) {
      case 'new':
        // Alerts no run handled yet, joined to the group's run still under way: joined all the same.
        return result.coalesced
          ? {
              runId,
              coalesced,
              incident: 'joined',
              message: `recorded on run ${runId} of this alert group, which is still under way`,
            }
          : { runId, coalesced, incident };
      case 'joined':
        return {
          runId,
          coalesced,
          incident,
          message: `every firing alert in this notification is already handled (run ${result.handledBy.join(', ')}); recorded on run ${runId}, which is still under way`,
        };
      case 'duplicate':
        return {
          runId,
          coalesced,
          incident,
          message: `every firing alert in this notification was already handled by run ${result.handledBy.join(', ')}, which has ended; nothing was started (a new run starts when a new alert joins the group, or an alert fires again after it resolved)`,
        };
      case 'resolved':
        return {
          runId,
          coalesced,
          incident,
          message: result.runId
            ? await resolvedEffect(result.runId)
            : 'no queued, active or parked run for this alert, so nothing was started; recorded in the audit log',
        };
    }
  }

  async function accept(request: FastifyRequest, reply: FastifyReply, receiver: string, parse: () => AlertNotice) {
    const stop = deps.metrics.webhookSeconds.startTimer({ receiver });
    let outcome = 'error';
    try {
      // A UserError naming the fields becomes a 400 in the error handler.
      const parsed = parse();
      // The run acts as the alert's own principal, on behalf of the token that posted it:
      // that principal can never approve what the run asks for.
      const notice = { ...parsed, trigger: withRequester(parsed.trigger, request.principal) };
      const { trigger, dedupeKey } = notice;
      const result = await intake.accept(notice, receiver);
      outcome =
        result.incident === 'new'
          ? result.coalesced
            ? 'coalesced'
            : 'enqueued'
          : result.incident === 'resolved'
            ? result.runId
              ? 'resolved_joined'
              : 'resolved_no_run'
            : result.incident;
      // Notices are counted apart from runs: a resolution or a duplicate enqueues nothing.
      deps.metrics.notice(receiver, result.incident === 'new' && result.coalesced ? 'coalesced' : result.incident);
      if (result.runId && (result.incident === 'new' || result.incident === 'joined'))
        deps.metrics.enqueued(trigger.kind, result.coalesced);
      if (result.incident === 'new' && !result.coalesced) deps.queued.add(result.runId, trigger);
      request.log.info(
        { dedupeKey, alertName: trigger.alertName, receiver, runId: result.runId, incident: result.incident },
        'alert accepted',
      );
      return reply.code(202).send(await answer(result));
    } finally {
      stop({ outcome });
    }
  }

  const needs = { config: { scope: 'alerts' as const } };
  app.post('/v1/alerts/alertmanager', needs, (request, reply) =>
    accept(request, reply, 'alertmanager', () => alertmanagerTrigger(request.body)),
  );
  app.post('/v1/alerts', needs, (request, reply) =>
    accept(request, reply, 'generic', () => genericAlertTrigger(request.body, request.principal ?? 'anonymous')),
  );
}

function withRequester(trigger: Trigger, requester: string | null): Trigger {
  return requester === null ? trigger : { ...trigger, principal: { ...trigger.principal, requester } };
}
