// POST /v1/alerts: a generic JSON alert for monitors other than Alertmanager (Grafana,
// Datadog, a cron job's own checks). Validated strictly, it becomes an `alert` trigger
// like an Alertmanager group, so runbooks match it by name and repeats coalesce.
import { z } from 'zod';
import type { Trigger } from '../agent/run.js';
import { UserError } from '../errors.js';
import type { AlertNotice } from './incidents.js';
import { describeIssues, labelSetSchema } from './label-set.js';
import { dedupeKeyOf } from './run-queue.js';

const labelSet = labelSetSchema;

export const genericAlertSchema = z
  .object({
    /** The alert's name: runbooks answer it (`alerts:` in their front matter). */
    name: z.string().trim().min(1).max(200),
    status: z.enum(['firing', 'resolved']).default('firing'),
    /** Notices with the same key coalesce into one run; default: the name and the labels. */
    dedupeKey: z.string().min(1).max(1000).optional(),
    labels: labelSet.default({}),
    annotations: labelSet.default({}),
    summary: z.string().max(4000).optional(),
    startsAt: z
      .string()
      .datetime({ offset: true, message: 'must be an ISO 8601 date-time, e.g. 2026-01-31T02:00:00Z' })
      .optional(),
  })
  .strict();

export type GenericAlert = z.infer<typeof genericAlertSchema>;

/**
 * Generic alerts act as this principal, whatever token sent them: an alert is outside
 * content, and must not borrow the roles of the operator whose token a monitor holds.
 * The token's principal is kept in the trigger as `sender`.
 */
export const GENERIC_ALERT_PRINCIPAL = { id: 'agent:alerts', roles: [] as string[] };

/** Same name and same labels: the same alert, so a monitor without keys still coalesces. */
function defaultKey(alert: GenericAlert): string {
  const labels = Object.keys(alert.labels)
    .sort()
    .map((k) => [k, alert.labels[k]]);
  return `generic:${alert.name}:${JSON.stringify(labels)}`;
}

/**
 * Validates a generic alert body; an invalid one is a UserError naming the fields. The
 * alert is one incident alert: its dedupe key, first firing at `startsAt` (or, absent, when
 * it was first seen firing).
 */
export function genericAlertTrigger(body: unknown, sender: string): AlertNotice {
  const parsed = genericAlertSchema.safeParse(body);
  if (!parsed.success) throw new UserError(`not a valid alert: ${describeIssues(parsed.error)}`);
  const alert = parsed.data;
  const dedupeKey = alert.dedupeKey ?? defaultKey(alert);
  // Runbooks read `alert.labels.*` and Alertmanager labels carry the name as `alertname`.
  const labels = { alertname: alert.name, ...alert.labels };
  const trigger: Trigger = {
    kind: 'alert',
    principal: GENERIC_ALERT_PRINCIPAL,
    alertName: alert.name,
    text: `${alert.name} ${alert.status}${alert.summary ? `: ${alert.summary}` : ''}`,
    data: {
      status: alert.status,
      dedupeKey,
      labels,
      annotations: alert.annotations,
      summary: alert.summary ?? null,
      startsAt: alert.startsAt ?? null,
      sender,
    },
  };
  return {
    trigger,
    dedupeKey: dedupeKeyOf(trigger) ?? `alert:${dedupeKey}`,
    status: alert.status,
    alerts: [{ key: `generic:${dedupeKey}`, startsAt: alert.startsAt ?? null, status: alert.status }],
  };
}
