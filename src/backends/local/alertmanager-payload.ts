// Building Alertmanager webhook payloads (version 4) as the lab's monitor sends them:
// fingerprints, group keys, common labels, and a sink that POSTs a payload to a URL.
import { createHash } from 'node:crypto';
import { UpstreamError, describeError } from '../../errors.js';

// The schema moved to the intake room, which validates incoming webhooks; re-exported
// so the lab's monitor and its tests keep one definition.
export {
  alertmanagerAlertSchema,
  alertmanagerPayloadSchema,
  type AlertmanagerAlert,
  type AlertmanagerPayload,
} from '../../intake/index.js';
import type { AlertmanagerPayload } from '../../intake/index.js';

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
      res = await fetch(url, {
        method: 'POST',
        headers,
        body: JSON.stringify(payload),
        signal: AbortSignal.timeout(10_000),
      });
    } catch (err) {
      throw new UpstreamError('alert webhook', `POST ${url} failed: ${describeError(err)}`, {
        retryable: true,
        cause: err,
      });
    }
    if (!res.ok) {
      const text = (await res.text()).slice(0, 200);
      throw new UpstreamError('alert webhook', `POST ${url} answered ${res.status}: ${text}`, {
        retryable: res.status >= 500 || res.status === 429,
      });
    }
    await res.body?.cancel();
  };
}
