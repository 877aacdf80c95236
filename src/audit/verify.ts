// Verifies a whole audit file, streaming, and says where and how the chain breaks.
import { scanChain } from './chain-check.js';
import { checkpointFileFor, readCheckpointFile } from './checkpoint-file.js';
import { scanLines } from './line-scan.js';
import { openForReading } from './open-for-reading.js';
import type { KeyRing } from './signing.js';
import type { AuditEntry, VerifyResult } from './types.js';
import { verifyWithCheckpoints, type AuditVerifyReport } from './verify-report.js';

/**
 * The chain alone: detects an edited entry (hash mismatch), a deleted, inserted or
 * reordered one (seq gap or prevHash mismatch), truncation mid-line and unknown schema
 * versions. Removing whole lines from the end, or rewriting the log whole, leaves a valid
 * chain: only checkpoints catch that (verifyFileLog).
 */
export async function verifyAuditFile(file: string): Promise<VerifyResult> {
  const { handle, size } = await openForReading(file);
  try {
    const scan = await scanChain(handle, size);
    if (!scan.break) return { ok: true, entries: scan.entries, lastHash: scan.lastHash };
    return {
      ok: false,
      entries: scan.entries,
      firstBadSeq: scan.entries + 1,
      line: scan.break.line,
      problem: scan.break.problem,
      kind: scan.break.kind,
    };
  } finally {
    await handle.close();
  }
}

/**
 * Verifies a file log and its checkpoints (`<file>.checkpoints`, or the list given, such
 * as a witness's copy). See verify-report.ts for what the result proves.
 */
export async function verifyFileLog(file: string, options: { keys: KeyRing; checkpointsFile?: string; onEntry?: (entry: AuditEntry) => void }): Promise<AuditVerifyReport> {
  const { handle, size } = await openForReading(file);
  try {
    const { checkpoints, problems } = await readCheckpointFile(options.checkpointsFile ?? checkpointFileFor(file));
    return await verifyWithCheckpoints((onLine) => scanLines(handle, size, onLine), {
      location: file,
      store: 'file',
      checkpoints,
      unreadableCheckpoints: problems,
      keys: options.keys,
      ...(options.onEntry ? { onEntry: options.onEntry } : {}),
    });
  } finally {
    await handle.close();
  }
}
