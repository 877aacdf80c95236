// What both audit writers (file, PostgreSQL) do around their own write: an entry is checked,
// stamped and queued for the writer's next group commit, and a closing writer checkpoints
// the head it leaves. The writing itself stays in each writer.
import type { Clock } from '../clock.js';
import type { Logger } from '../logger.js';
import type { Checkpointer } from './checkpointer.js';
import { checkEntryInput } from './json-safe.js';
import type { AuditEntry, AuditEntryInput } from './types.js';

export interface PendingEntry {
  input: AuditEntryInput;
  time: string;
  resolve(entry: AuditEntry): void;
  reject(err: Error): void;
}

/**
 * Checks an entry, stamps it with the clock's time, queues it and calls `startFlush` (which
 * starts a group commit unless one runs). Rejects with `refusal` when the log takes no more.
 */
export function queueEntry(
  input: AuditEntryInput,
  refusal: Error | null,
  clock: Clock,
  queue: PendingEntry[],
  startFlush: () => void,
): Promise<AuditEntry> {
  if (refusal) return Promise.reject(refusal);
  let safe: AuditEntryInput;
  try {
    safe = checkEntryInput(input);
  } catch (err) {
    return Promise.reject(err);
  }
  const time = new Date(clock.now()).toISOString();
  return new Promise<AuditEntry>((resolve, reject) => {
    queue.push({ input: safe, time, resolve, reject });
    startFlush();
  });
}

/** The head a closing writer leaves; failing to write it is logged, and closing goes on. */
export async function checkpointAtShutdown(
  checkpointer: Checkpointer,
  logger: Logger,
  where: Record<string, unknown>,
): Promise<void> {
  await checkpointer
    .checkpoint('shutdown')
    .catch((err: unknown) =>
      logger.warn({ err, ...where }, 'writing the shutdown checkpoint failed; the last entries stay uncovered'),
    );
}
