// The run queue's errors in the log. While Redis is down every connection reports each
// failed reconnect (one a second, see reconnectDelay): one line per distinct error every
// 30 s says as much, with how many were left out.
import type { Clock } from '../clock.js';
import { describeError } from '../errors.js';
import type { Logger } from '../logger.js';

const REPEAT_MS = 30_000;

export function queueErrorLog(
  logger: Pick<Logger, 'warn'>,
  clock: Clock,
): (runId: string | null, err: unknown) => void {
  const seen = new Map<string, { at: number; left: number }>();
  return (runId, err) => {
    if (runId) {
      logger.warn({ runId, err }, 'a run attempt failed');
      return;
    }
    const key = describeError(err);
    const now = clock.now();
    const last = seen.get(key);
    if (last && now - last.at < REPEAT_MS) {
      last.left++;
      return;
    }
    // Distinct messages are few (they name the host); the bound only guards against odd ones.
    if (seen.size >= 100) seen.clear();
    seen.set(key, { at: now, left: 0 });
    logger.warn(
      { err, ...(last?.left ? { repeatsNotLogged: last.left } : {}) },
      'the run queue reported an error (Redis unreachable?)',
    );
  };
}
