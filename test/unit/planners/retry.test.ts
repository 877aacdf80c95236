import { describe, expect, it } from 'vitest';
import { UpstreamError } from '../../../src/errors.js';
import {
  backoffDelay,
  MAX_RETRY_AFTER_MS,
  parseRetryAfter,
  withRetries,
  type FailureVerdict,
} from '../../../src/planners/retry.js';

const transient: FailureVerdict = { retryable: true, timeout: false, message: 'HTTP 503' };

describe('backoffDelay', () => {
  it('doubles the ceiling each attempt and never goes below half of it', () => {
    for (const attempt of [0, 1, 2, 3]) {
      const ceiling = 100 * 2 ** attempt;
      expect(backoffDelay(attempt, { retryBaseDelayMs: 100, random: () => 0 })).toBe(ceiling / 2);
      expect(backoffDelay(attempt, { retryBaseDelayMs: 100, random: () => 1 })).toBe(ceiling);
    }
  });

  it('honours a server hint but caps it', () => {
    expect(backoffDelay(0, { retryBaseDelayMs: 100 }, 2_500)).toBe(2_500);
    expect(backoffDelay(0, { retryBaseDelayMs: 100 }, 10 * 60_000)).toBe(MAX_RETRY_AFTER_MS);
  });
});

describe('parseRetryAfter', () => {
  it('reads seconds and HTTP dates, and ignores garbage', () => {
    expect(parseRetryAfter('7')).toBe(7_000);
    expect(parseRetryAfter('0.5')).toBe(500);
    expect(parseRetryAfter('Wed, 21 Oct 2015 07:28:05 GMT', () => Date.parse('Wed, 21 Oct 2015 07:28:00 GMT'))).toBe(
      5_000,
    );
    expect(parseRetryAfter('soon')).toBeUndefined();
    expect(parseRetryAfter(null)).toBeUndefined();
  });
});

describe('withRetries', () => {
  it('retries up to maxRetries, then throws a retryable UpstreamError carrying the last cause', async () => {
    const delays: number[] = [];
    let calls = 0;
    const cause = new Error('boom');
    const err = await withRetries(
      'svc',
      async () => {
        calls++;
        throw cause;
      },
      () => transient,
      { maxRetries: 2, retryBaseDelayMs: 10, sleep: async (ms) => void delays.push(ms) },
    ).catch((e: unknown) => e);
    expect(calls).toBe(3);
    expect(delays).toHaveLength(2);
    expect(err).toBeInstanceOf(UpstreamError);
    expect(err).toMatchObject({ service: 'svc', retryable: true, code: 'upstream_failed', cause });
  });

  it('fails at once on a non-retryable verdict, marking timeouts as upstream_timeout', async () => {
    let calls = 0;
    const err = await withRetries(
      'svc',
      async () => {
        calls++;
        throw new Error('x');
      },
      () => ({ retryable: false, timeout: true, message: 'slow' }),
      { maxRetries: 5, retryBaseDelayMs: 0 },
    ).catch((e: unknown) => e);
    expect(calls).toBe(1);
    expect(err).toMatchObject({ retryable: false, code: 'upstream_timeout', message: 'svc: slow' });
  });

  it('passes errors it does not classify through untouched', async () => {
    const own = new RangeError('model misbehaved');
    await expect(
      withRetries(
        'svc',
        async () => {
          throw own;
        },
        () => null,
        { maxRetries: 3, retryBaseDelayMs: 0 },
      ),
    ).rejects.toBe(own);
  });

  it('stops waiting between retries when the caller aborts', async () => {
    const controller = new AbortController();
    const pending = withRetries(
      'svc',
      async () => {
        throw new Error('x');
      },
      () => transient,
      { maxRetries: 3, retryBaseDelayMs: 60_000 },
      controller.signal,
    );
    setTimeout(() => controller.abort(new Error('cancelled')), 20);
    await expect(pending).rejects.toThrow('cancelled');
  });

  it('returns the first success', async () => {
    let calls = 0;
    const value = await withRetries(
      'svc',
      async () => {
        if (++calls < 2) throw new Error('x');
        return 'ok';
      },
      () => transient,
      { maxRetries: 3, retryBaseDelayMs: 0, sleep: async () => {} },
    );
    expect(value).toBe('ok');
    expect(calls).toBe(2);
  });
});
