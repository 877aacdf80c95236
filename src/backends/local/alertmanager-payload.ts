// The Prometheus Alertmanager webhook payload (version 4), as the monitor sends it and
// as intake validates incoming webhooks, plus a sink that POSTs it to a URL.
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { UpstreamError, describeError } from '../../errors.js';

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
export type AlertSink = (payload: AlertmanagerPayload) => Promise<void>;

/** Alertmanager's "zero time" for an alert that has not ended. */
export const ZERO_TIME = '0001-01-01T00:00:00Z';

/** A stable id of a label set: sha256 of the sorted labels, 16 hex digits like Alertmanager's. */
export function fingerprint(labels: Record<string, string>): string {
  const canonical = Object.keys(labels)
    .sort()
    .map((k) => `${k}\u0000${labels[k]}`)
    .join('\u0001');
  return createHash('sha256').update(canonical).digest('hex').slice(0, 16);
}

/** `{}:{a="x", b="y"}`, the shape of Alertmanager's group keys. */
export function groupKeyOf(groupLabels: Record<string, string>): string {
  const inner = Object.keys(groupLabels)
    .sort()
    .map((k) => `${k}=${JSON.stringify(groupLabels[k])}`)
    .join(', ');
  return `{}:{${inner}}`;
}

/** Labels (or annotations) every alert shares with the same value. */
export function commonOf(sets: Record<string, string>[]): Record<string, string> {
  const [first, ...rest] = sets;
  if (!first) return {};
  return Object.fromEntries(Object.entries(first).filter(([k, v]) => rest.every((s) => s[k] === v)));
}

/** POSTs each payload as JSON; a non-2xx answer is an UpstreamError (retryable on 5xx). */
export function httpAlertSink(url: string, token?: string): AlertSink {
  return async (payload) => {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (token) headers.authorization = `Bearer ${token}`;
    let res: Response;
    try {
      res = await fetch(url, { method: 'POST', headers, body: JSON.stringify(payload), signal: AbortSignal.timeout(10_000) });
    } catch (err) {
      throw new UpstreamError('alert webhook', `POST ${url} failed: ${describeError(err)}`, { retryable: true, cause: err });
    }
    if (!res.ok) {
      const text = (await res.text()).slice(0, 200);
      throw new UpstreamError('alert webhook', `POST ${url} answered ${res.status}: ${text}`, { retryable: res.status >= 500 || res.status === 429 });
    }
    await res.body?.cancel();
  };
}
