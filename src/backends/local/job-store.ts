// Training-job records on disk, one JSON file a job. Writes for a job are serialised and
// coalesced: a burst of progress updates becomes a few atomic replaces, in order, and the
// last state written is always the last state set.
import { join } from 'node:path';
import { readJsonIfExists, writeFileAtomic } from '../../durable-file.js';
import type { TrainingExperiment } from './trainer.js';

export interface JobStore {
  file(jobId: string): string;
  read(jobId: string): Promise<TrainingExperiment | undefined>;
  /** Resolves once a snapshot at least as new as `record` is on disk. */
  write(record: TrainingExperiment): Promise<void>;
}

export function createJobStore(jobsDir: string): JobStore {
  const pending = new Map<string, string>();
  const chains = new Map<string, Promise<void>>();
  const file = (jobId: string) => join(jobsDir, `${jobId}.json`);
  return {
    file,
    read: (jobId) => readJsonIfExists<TrainingExperiment>(file(jobId)),
    write(record) {
      const { jobId } = record;
      pending.set(jobId, `${JSON.stringify(record, null, 2)}\n`);
      const previous = chains.get(jobId) ?? Promise.resolve();
      const next = previous.then(async () => {
        const text = pending.get(jobId);
        // Already written by an earlier turn that picked up this newer snapshot.
        if (text === undefined) return;
        pending.delete(jobId);
        try {
          await writeFileAtomic(file(jobId), text);
        } catch (err) {
          // Leave it for the next turn unless a newer snapshot is already waiting.
          if (!pending.has(jobId)) pending.set(jobId, text);
          throw err;
        }
      });
      const tail = next.catch(() => undefined);
      chains.set(jobId, tail);
      void tail.then(() => {
        if (chains.get(jobId) === tail) chains.delete(jobId);
      });
      return next;
    },
  };
}
