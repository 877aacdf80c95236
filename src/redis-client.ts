// How our Redis clients reconnect once Redis is gone, and a client that answers at once
// while Redis is down instead of holding commands in ioredis's offline queue until it
// comes back.
import { Redis, type RedisOptions } from 'ioredis';
import { describeError, UpstreamError } from './errors.js';

/**
 * Milliseconds before ioredis's next connection attempt: 100, 200, … then every second.
 * The defaults grow with the outage: ioredis 6 waits up to 5 s (plus jitter), BullMQ at
 * least 1 s and up to 20 s, so after a restart a worker took a run at once but its run
 * store came back seconds later, and the run waited. A refused connect once a second
 * costs nothing.
 */
export function reconnectDelay(attempt: number): number {
  return Math.min(attempt * 100, 1000);
}

export interface FailFastRedis {
  readonly redis: Redis;
  /** Null while connected, else why not: `Redis at 10.0.0.5:6379 is unreachable (connect ECONNREFUSED 10.0.0.5:6379)`. */
  unreachable(): string | null;
  /**
   * Resolves once a command can be sent. Before the first connection it waits for it, up
   * to `ms` (a process starting beside Redis); after it, while the connection is down, it
   * rejects at once with a retryable UpstreamError naming `action`, so a webhook is
   * answered 503 now and its sender retries, instead of waiting out a reconnect.
   */
  connected(action: string, ms: number): Promise<void>;
}

export function openFailFastRedis(url: string, options: RedisOptions = {}): FailFastRedis {
  const redis = new Redis(url, { retryStrategy: reconnectDelay, ...options, enableOfflineQueue: false });
  let everReady = false;
  let lastError: unknown = null;
  redis.on('ready', () => {
    everReady = true;
    lastError = null;
  });
  // Also keeps ioredis from printing "Unhandled error event" on each failed reconnect.
  redis.on('error', (err) => (lastError = err));
  // One listener however many commands wait for the first connection (a storm at start).
  const firstReady = new Promise<void>((resolve) => redis.once('ready', () => resolve()));
  const where = `${redis.options.host ?? '127.0.0.1'}:${redis.options.port ?? 6379}`;

  // ioredis says `ready` until it handles the socket's close; a socket that can no longer
  // be written (the peer is gone) is already down, as ioredis itself judges it.
  const up = () => redis.status === 'ready' && redis.stream?.writable === true;

  function unreachable(): string | null {
    if (up()) return null;
    if (redis.status === 'end') return `the connection to Redis at ${where} is closed`;
    // A lost connection reports no error until the first reconnect attempt fails.
    if (lastError) return `Redis at ${where} is unreachable (${describeError(lastError)})`;
    return everReady
      ? `Redis at ${where} is unreachable (connection lost; reconnecting)`
      : `Redis at ${where} is not connected yet`;
  }

  return {
    redis,
    unreachable,
    async connected(action, ms) {
      if (up()) return;
      if (everReady || redis.status === 'end')
        throw new UpstreamError('redis', `${action} failed: ${unreachable()}`, { retryable: true });
      if (redis.status === 'wait') redis.connect().catch(() => undefined);
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () =>
            reject(
              new UpstreamError('redis', `${action}: no answer within ${ms} ms (${unreachable()})`, {
                retryable: true,
                code: 'upstream_timeout',
              }),
            ),
          ms,
        );
      });
      try {
        await Promise.race([firstReady, timeout]);
      } finally {
        clearTimeout(timer);
      }
    },
  };
}
