// Work done after Slack got its answer: Slack wants an acknowledgement within three
// seconds, and a decision (audit fsyncs, message updates, a Web API call or two) may take
// longer. Each task's failure is logged, never thrown into the void, and shutdown (and
// tests) can wait for what is in flight.
import type { Logger } from '../logger.js';

export interface BackgroundTasks {
  /** Starts `work` now; its errors are logged with `what`. */
  run(what: string, work: () => Promise<void>): void;
  /** Resolves when every task started so far, and any they started, has settled. */
  idle(): Promise<void>;
}

export function createBackgroundTasks(logger: Logger): BackgroundTasks {
  const inFlight = new Set<Promise<void>>();
  return {
    run(what, work) {
      const task: Promise<void> = Promise.resolve()
        .then(work)
        .catch((err: unknown) => logger.error({ err, task: what }, 'Slack work after the acknowledgement failed'))
        .finally(() => inFlight.delete(task));
      inFlight.add(task);
    },
    async idle() {
      while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
    },
  };
}
