// How our Redis clients reconnect once Redis is gone.
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
