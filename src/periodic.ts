// A job repeated on an interval: one pass at a time (a call during a pass joins it), the
// timer never keeps the process alive, a failed pass is logged and tried again next time,
// and stop waits for the pass under way.
import type { Logger } from './logger.js';

export interface Periodic {
  /** One pass now; resolves when it is done. */
  run(): Promise<void>;
  start(): void;
  stop(): Promise<void>;
}

export function createPeriodic(
  what: string,
  pass: () => Promise<void>,
  options: { intervalMs: number; logger: Logger },
): Periodic {
  let timer: NodeJS.Timeout | null = null;
  let running: Promise<void> | null = null;
  const run = () => (running ??= pass().finally(() => (running = null)));
  return {
    run,
    start() {
      if (timer) return;
      timer = setInterval(() => {
        run().catch((err: unknown) => options.logger.warn({ err }, `${what} failed; it runs again`));
      }, options.intervalMs);
      timer.unref();
    },
    async stop() {
      if (timer) clearInterval(timer);
      timer = null;
      await running?.catch(() => undefined);
    },
  };
}
