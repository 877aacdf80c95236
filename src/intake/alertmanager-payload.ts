// The Prometheus Alertmanager webhook payload (version 4; Grafana's webhook contact point
// sends the same shape as version "1"): the schema intake validates incoming webhooks with,
// and the step from a validated body to a queued run's trigger, its coalescing key and the
// alerts that identify its incident. Only what identifies an alert is required (each
// alert's labels and startsAt, and the group's status); the rest of v4 is optional, so
// older Alertmanagers and hand-written senders work. Labels and annotations are capped as
// on /v1/alerts.
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { UserError } from '../errors.js';
import { triggerFromAlertGroup } from './alert-trigger.js';
import type { AlertNotice } from './incidents.js';
import { describeIssues, labelSetSchema } from './label-set.js';
import { dedupeKeyOf } from './run-queue.js';

/** More alerts than this in one notification is no group a person could reason about. */
export const MAX_ALERTS = 1000;

const status = z.enum(['firing', 'resolved']);
const when = z
  .string()
  .min(1)
  .max(64)
  .datetime({ offset: true, message: 'must be an RFC 3339 date-time, e.g. 2026-01-31T02:00:00Z' });
const text = (max: number) => z.string().max(max);

export const alertmanagerAlertSchema = z.object({
  /** Absent: the group's status. */
  status: status.optional(),
  labels: labelSetSchema,
  annotations: labelSetSchema.default({}),
  startsAt: when,
  endsAt: text(64).optional(),
  generatorURL: text(4000).optional(),
  /** Absent (older senders): derived from the labels, as Alertmanager derives it. */
  fingerprint: z.string().min(1).max(128).optional(),
});

export const alertmanagerPayloadSchema = z
  .object({
    /** "4" from Alertmanager, "1" from Grafana's webhook contact point; absent from minimal senders. */
    version: z
      .enum(['4', '1'], { errorMap: () => ({ message: 'must be "4" (Alertmanager) or "1" (Grafana), or absent' }) })
      .optional(),
    /** Absent: derived from the receiver and the group labels (or the labels all alerts share). */
    groupKey: z.string().min(1).max(8000).optional(),
    truncatedAlerts: z.number().int().nonnegative().optional(),
    status,
    receiver: text(500).optional(),
    groupLabels: labelSetSchema.default({}),
    commonLabels: labelSetSchema.default({}),
    commonAnnotations: labelSetSchema.default({}),
    externalURL: text(4000).optional(),
    alerts: z.array(alertmanagerAlertSchema).max(MAX_ALERTS, `at most ${MAX_ALERTS} alerts in one notification`),
  })
  .refine((p) => p.status !== 'firing' || p.alerts.length > 0, {
    path: ['alerts'],
    message: 'a firing notification carries at least one alert',
  });

export type AlertmanagerAlert = z.infer<typeof alertmanagerAlertSchema>;
export type AlertmanagerPayload = z.infer<typeof alertmanagerPayloadSchema>;

const sortedPairs = (labels: Record<string, string>) =>
  Object.keys(labels)
    .sort()
    .map((k) => [k, labels[k]]);

/** A stable fingerprint of a label set (Alertmanager hashes the sorted labels too; any stable hash serves as an identity). */
export function fingerprintOf(labels: Record<string, string>): string {
  return createHash('sha256')
    .update(JSON.stringify(sortedPairs(labels)))
    .digest('hex')
    .slice(0, 16);
}

function sharedLabels(sets: Record<string, string>[]): Record<string, string> {
  const [first, ...rest] = sets;
  return Object.fromEntries(Object.entries(first ?? {}).filter(([k, v]) => rest.every((s) => s[k] === v)));
}

/**
 * Validates an Alertmanager (or Grafana) webhook body and returns the trigger to enqueue,
 * its coalescing key (`alert:<groupKey>`) and the alerts it carries (fingerprint +
 * startsAt). An invalid body is a UserError naming the fields.
 */
export function alertmanagerTrigger(body: unknown): AlertNotice {
  const parsed = alertmanagerPayloadSchema.safeParse(body);
  if (!parsed.success)
    throw new UserError(`not an Alertmanager v4 webhook payload (nor Grafana's): ${describeIssues(parsed.error)}`);
  const p = parsed.data;
  const commonLabels =
    Object.keys(p.commonLabels).length > 0 ? p.commonLabels : sharedLabels(p.alerts.map((a) => a.labels));
  const grouping = Object.keys(p.groupLabels).length > 0 ? p.groupLabels : commonLabels;
  const groupKey = p.groupKey ?? `derived:${p.receiver ?? ''}:${JSON.stringify(sortedPairs(grouping))}`;
  const alerts = p.alerts.map((a) => ({
    status: a.status ?? p.status,
    labels: a.labels,
    annotations: a.annotations,
    startsAt: a.startsAt,
    fingerprint: a.fingerprint ?? fingerprintOf(a.labels),
  }));
  const trigger = triggerFromAlertGroup({ status: p.status, groupKey, commonLabels, alerts });
  return {
    trigger,
    dedupeKey: dedupeKeyOf(trigger) ?? `alert:${groupKey}`,
    status: p.status,
    alerts: alerts.map((a) => ({ key: `am:${a.fingerprint}`, startsAt: a.startsAt, status: a.status })),
  };
}
