// Retries of LLM requests: 429, 5xx and timeouts back off exponentially with jitter,
// honouring the server's own hint (Retry-After, RetryInfo) up to a cap; anything else
// fails at once. Every failure ends as an UpstreamError that says whether a retry can help.
import { UpstreamError } from '../errors.js';
import type { Logger } from '../logger.js';

export interface RetryPolicy {
  maxRetries: number;
  retryBaseDelayMs: number;
  /** Injected so tests can record delays instead of waiting for them. */
  sleep?: (ms: number) => Promise<void>;
  /** 0..1; injected so tests can pin the jitter. */
  random?: () => number;
  logger?: Logger;
}

/** How one failed attempt should be treated. */
export interface FailureVerdict {
  retryable: boolean;
  timeout: boolean;
  /** The server's hint of when to come back. */
  retryAfterMs?: number;
  message: string;
}

/** A server's hint is honoured up to this; beyond it we would rather fail and let the loop fall back. */
export const MAX_RETRY_AFTER_MS = 30_000;
const MAX_BACKOFF_MS = 30_000;

export function backoffDelay(
  attempt: number,
  policy: Pick<RetryPolicy, 'retryBaseDelayMs' | 'random'>,
  retryAfterMs?: number,
): number {
  if (retryAfterMs !== undefined && Number.isFinite(retryAfterMs) && retryAfterMs >= 0)
    return Math.min(retryAfterMs, MAX_RETRY_AFTER_MS);
  const ceiling = Math.min(policy.retryBaseDelayMs * 2 ** attempt, MAX_BACKOFF_MS);
  // "Equal jitter": at least half the exponential delay, so retries never bunch at zero.
  const random = policy.random ?? Math.random;
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

export function abortError(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('The operation was aborted.', 'AbortError');
}

function defaultSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortError(signal));
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortError(signal!));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

async function sleepUnlessAborted(ms: number, policy: RetryPolicy, signal?: AbortSignal): Promise<void> {
  if (!policy.sleep) return defaultSleep(ms, signal);
  await policy.sleep(ms);
  if (signal?.aborted) throw abortError(signal);
}

/**
 * Runs `attempt` until it succeeds, fails with something not worth retrying, or runs out
 * of retries. Errors that `classify` returns null for (the model misbehaving, an abort by
 * the caller) pass through untouched.
 */
export async function withRetries<T>(
  service: string,
  attempt: (attemptNo: number) => Promise<T>,
  classify: (err: unknown) => FailureVerdict | null,
  policy: RetryPolicy,
  signal?: AbortSignal,
): Promise<T> {
  for (let attemptNo = 0; ; attemptNo++) {
    if (signal?.aborted) throw abortError(signal);
    try {
      return await attempt(attemptNo);
    } catch (err) {
      if (signal?.aborted) throw abortError(signal);
      const verdict = classify(err);
      if (verdict === null) throw err;
      const code = verdict.timeout ? 'upstream_timeout' : 'upstream_failed';
      if (!verdict.retryable) throw new UpstreamError(service, verdict.message, { retryable: false, code, cause: err });
      if (attemptNo >= policy.maxRetries) {
        const tries = attemptNo + 1;
        throw new UpstreamError(
          service,
          `${verdict.message} (gave up after ${tries} attempt${tries === 1 ? '' : 's'})`,
          { retryable: true, code, cause: err },
        );
      }
      const delayMs = backoffDelay(attemptNo, policy, verdict.retryAfterMs);
      policy.logger?.warn(
        { service, attempt: attemptNo + 1, delayMs, error: verdict.message },
        'LLM request failed; retrying',
      );
      await sleepUnlessAborted(delayMs, policy, signal);
    }
  }
}

/** Retry-After as seconds or an HTTP date, in milliseconds; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | null | undefined, now: () => number = Date.now): number | undefined {
  if (!value) return undefined;
  const trimmed = value.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.round(Number(trimmed) * 1000);
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now());
}

/** Thrown when a single request outlives its timeout; planners classify it as retryable. */
export class RequestTimeout extends Error {
  constructor(readonly timeoutMs: number) {
    super(`no response within ${timeoutMs} ms`);
  }
}

/**
 * Runs one request with its own timer, also cancelled by the caller's signal. We keep our
 * own timer rather than the SDK's, which is never cleared and keeps a finished CLI alive.
 */
export async function callWithTimeout<T>(
  timeoutMs: number,
  outer: AbortSignal | undefined,
  call: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  if (outer?.aborted) throw abortError(outer);
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new RequestTimeout(timeoutMs)), timeoutMs);
  const onAbort = () => controller.abort(abortError(outer!));
  outer?.addEventListener('abort', onAbort, { once: true });
  try {
    return await call(controller.signal);
  } catch (err) {
    if (controller.signal.reason instanceof RequestTimeout) throw controller.signal.reason;
    throw err;
  } finally {
    clearTimeout(timer);
    outer?.removeEventListener('abort', onAbort);
  }
}
