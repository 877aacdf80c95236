// The Prometheus Alertmanager webhook payload (version 4): the schema intake validates
// incoming webhooks with (the lab's monitor sends the same shape), and the step from a
// validated body to a queued run's trigger and coalescing key.
import { z } from 'zod';
import type { Trigger } from '../agent/run.js';
import { UserError } from '../errors.js';
import { triggerFromAlertGroup } from './alert-trigger.js';
import { dedupeKeyOf } from './run-queue.js';

const labelSet = z.record(z.string(), z.string());

export const alertmanagerAlertSchema = z.object({
  status: z.enum(['firing', 'resolved']),
  labels: labelSet,
  annotations: labelSet,
  startsAt: z.string(),
  endsAt: z.string(),
  generatorURL: z.string(),
  fingerprint: z.string(),
});

export const alertmanagerPayloadSchema = z.object({
  version: z.literal('4'),
  groupKey: z.string(),
  truncatedAlerts: z.number().int().nonnegative(),
  status: z.enum(['firing', 'resolved']),
  receiver: z.string(),
  groupLabels: labelSet,
  commonLabels: labelSet,
  commonAnnotations: labelSet,
  externalURL: z.string(),
  alerts: z.array(alertmanagerAlertSchema),
});

export type AlertmanagerAlert = z.infer<typeof alertmanagerAlertSchema>;
export type AlertmanagerPayload = z.infer<typeof alertmanagerPayloadSchema>;

/**
 * Validates an Alertmanager webhook body and returns the trigger to enqueue with its
 * coalescing key (`alert:<groupKey>`). An invalid body is a UserError naming the fields.
 */
export function alertmanagerTrigger(body: unknown): { trigger: Trigger; dedupeKey: string; status: 'firing' | 'resolved' } {
  const parsed = alertmanagerPayloadSchema.safeParse(body);
  if (!parsed.success) {
    const where = parsed.error.issues.slice(0, 5).map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; ');
    throw new UserError(`not an Alertmanager v4 webhook payload: ${where}`);
  }
  const trigger = triggerFromAlertGroup(parsed.data);
  // groupKey is a required string, so the key always exists; the fallback keeps types honest.
  return { trigger, dedupeKey: dedupeKeyOf(trigger) ?? `alert:${parsed.data.groupKey}`, status: parsed.data.status };
}
