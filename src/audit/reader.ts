// Reading a chain, whichever store holds it: for verify, tail and evidence export. Readers
// never write and need no lock, so they run beside the processes appending.
import { checkpointFileFor, readCheckpointFile, type CheckpointList } from './checkpoint-file.js';
import { scanLines } from './line-scan.js';
import { openForReading } from './open-for-reading.js';
import { readAuditEntries, type ReadAuditOptions } from './read-entries.js';
import type { KeyRing } from './signing.js';
import type { AuditEntry, AuditStoreKind } from './types.js';
import { walkFile } from './verify.js';
import { verifyWithCheckpoints, type AuditVerifyReport, type ChainWalk, type StoredLineScan } from './verify-report.js';

export interface AuditReader {
  readonly store: AuditStoreKind;
  readonly location: string;
  /** Every stored line, in chain order. */
  scan: StoredLineScan;
  checkpoints(): Promise<CheckpointList>;
  /** Seqs of a run's first and last entries, or null when it has none. */
  runRange(runId: string): Promise<{ first: number; last: number } | null>;
  /** The stored lines of entries `from` to `to`, in order, exactly as stored. */
  lines(from: number, to: number): Promise<string[]>;
  tail(options: ReadAuditOptions): Promise<AuditEntry[]>;
  /** A faster whole-chain check than `scan` gives (a file on every core). */
  walk?: ChainWalk;
  close(): Promise<void>;
}

/** Cheap test before parsing: a run's entries carry its id as written by JSON.stringify. */
function mentionsRun(text: string, runId: string): boolean {
  return text.includes(`"runId":${JSON.stringify(runId)}`);
}

function seqOf(text: string): number | null {
  try {
    const seq = (JSON.parse(text) as { seq?: unknown }).seq;
    return typeof seq === 'number' ? seq : null;
  } catch {
    return null;
  }
}

export function openFileAuditReader(file: string, options: { checkpointsFile?: string } = {}): AuditReader {
  const checkpointsFile = options.checkpointsFile ?? checkpointFileFor(file);
  const reader: AuditReader = {
    store: 'file',
    location: file,
    async scan(onLine) {
      const { handle, size } = await openForReading(file);
      try {
        await scanLines(handle, size, onLine);
      } finally {
        await handle.close();
      }
    },
    checkpoints: () => readCheckpointFile(checkpointsFile),
    async runRange(runId) {
      let range: { first: number; last: number } | null = null;
      await reader.scan((line) => {
        if (!line.terminated || !mentionsRun(line.text, runId)) return true;
        const entry = JSON.parse(line.text) as AuditEntry;
        if (entry.runId === runId) range = { first: range?.first ?? entry.seq, last: entry.seq };
        return true;
      });
      return range;
    },
    async lines(from, to) {
      // Start at the last checkpoint before `from` that says where its entry ends.
      const { checkpoints } = await reader.checkpoints();
      const before = checkpoints.filter((c) => c.position !== null && c.seq < from).sort((a, b) => b.seq - a.seq)[0];
      const start = before ? { position: before.position!, line: before.seq + 1 } : { position: 0, line: 1 };
      const { handle, size } = await openForReading(file);
      const out: string[] = [];
      try {
        await scanLines(
          handle,
          size,
          (line) => {
            if (!line.terminated) return false;
            // One line per entry: the line number is the seq in a whole log.
            const seq = seqOf(line.text) ?? line.number;
            if (seq >= from && seq <= to) out.push(line.text);
            return seq < to;
          },
          start,
        );
      } finally {
        await handle.close();
      }
      return out;
    },
    tail: (opts) => readAuditEntries(file, opts),
    walk: (wanted) => walkFile(file, wanted),
    close: async () => undefined,
  };
  return reader;
}

/** Verifies the chain a reader reads, with its checkpoints (or the list given, e.g. a witness's copy). */
export async function verifyAudit(
  reader: AuditReader,
  options: { keys: KeyRing; checkpoints?: CheckpointList },
): Promise<AuditVerifyReport> {
  const { checkpoints, problems } = options.checkpoints ?? (await reader.checkpoints());
  return verifyWithCheckpoints(reader.scan, {
    location: reader.location,
    store: reader.store,
    checkpoints,
    unreadableCheckpoints: problems,
    keys: options.keys,
    ...(reader.walk ? { walk: reader.walk } : {}),
  });
}

/** A file log and its checkpoints (`<file>.checkpoints`, or another copy such as a witness's). */
export function verifyFileLog(
  file: string,
  options: { keys: KeyRing; checkpointsFile?: string },
): Promise<AuditVerifyReport> {
  return verifyAudit(
    openFileAuditReader(file, options.checkpointsFile ? { checkpointsFile: options.checkpointsFile } : {}),
    { keys: options.keys },
  );
}
