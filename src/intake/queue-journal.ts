// The in-process queue's memory on disk: one fsync'd file per run it accepted, removed
// when the run is settled. A process that dies (SIGKILL, a power cut) leaves the files of
// the runs it had acknowledged and not finished; the next start queues them again under
// their ids, so an alert answered 202 is never lost for want of Redis. A parked run's
// hold on its alert group is kept the same way (`<runId>.held`), so it outlives a restart.
import { readdirSync, readFileSync, renameSync } from 'node:fs';
import { unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Trigger } from '../agent/run.js';
import { writeFileAtomic } from '../durable-file.js';

export interface JournalEntry {
  runId: string;
  /** Null for the resume of a stored run. */
  trigger: Trigger | null;
  dedupeKey: string | undefined;
  queuedAt: string;
}

export interface QueueJournal {
  /** What the last process accepted and did not settle, oldest first (read once, at open). */
  readonly left: readonly JournalEntry[];
  /** The coalescing keys parked runs held when the last process stopped (read once, at open). */
  readonly holds: readonly { runId: string; dedupeKey: string }[];
  /** Resolves once the entry is durable. */
  add(entry: JournalEntry): Promise<void>;
  remove(runId: string): Promise<void>;
  hold(runId: string, dedupeKey: string): Promise<void>;
  release(runId: string): Promise<void>;
}

const RUN_FILE = /^run_[0-9a-z]+_[0-9a-f]+\.(json|held)$/;

/** `onUnreadable`: told about a file that is not an entry (it is renamed `.unreadable` and kept). */
export function openQueueJournal(dir: string, onUnreadable: (file: string, err: unknown) => void): QueueJournal {
  const fileOf = (runId: string) => join(dir, `${runId}.json`);
  const holdFileOf = (runId: string) => join(dir, `${runId}.held`);
  const left: JournalEntry[] = [];
  const holds: { runId: string; dedupeKey: string }[] = [];
  let names: string[] = [];
  try {
    names = readdirSync(dir).filter((n) => RUN_FILE.test(n));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  for (const name of names) {
    const file = join(dir, name);
    try {
      const entry = JSON.parse(readFileSync(file, 'utf8')) as JournalEntry;
      if (name.endsWith('.held')) {
        if (typeof entry.runId !== 'string' || typeof entry.dedupeKey !== 'string')
          throw new Error('not a held key (no runId or dedupeKey)');
        holds.push({ runId: entry.runId, dedupeKey: entry.dedupeKey });
        continue;
      }
      if (typeof entry.runId !== 'string' || typeof entry.queuedAt !== 'string')
        throw new Error('not a queued run (no runId or queuedAt)');
      left.push(entry);
    } catch (err) {
      // Set aside, not deleted: an operator may still want what it held.
      renameSync(file, `${file}.unreadable`);
      onUnreadable(`${file}.unreadable`, err);
    }
  }
  left.sort((a, b) => a.queuedAt.localeCompare(b.queuedAt));

  const removeFile = (file: string) =>
    unlink(file).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
  return {
    left,
    holds,
    add: (entry) => writeFileAtomic(fileOf(entry.runId), JSON.stringify(entry)),
    remove: (runId) => removeFile(fileOf(runId)),
    hold: (runId, dedupeKey) => writeFileAtomic(holdFileOf(runId), JSON.stringify({ runId, dedupeKey })),
    release: (runId) => removeFile(holdFileOf(runId)),
  };
}
