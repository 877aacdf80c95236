// Verifies a whole audit file, streaming, and says where and how the chain breaks.
import { scanChain } from './chain-check.js';
import { checkRange, PARALLEL_MIN_BYTES, walkFileInRanges } from './chain-range.js';
import { openForReading } from './open-for-reading.js';
import type { VerifyResult } from './types.js';

/**
 * The chain alone: detects an edited entry (hash mismatch), a deleted, inserted or
 * reordered one (seq gap or prevHash mismatch), truncation mid-line and unknown schema
 * versions. Removing whole lines from the end, or rewriting the log whole, leaves a valid
 * chain: only checkpoints catch that (verifyFileLog).
 */
export async function verifyAuditFile(file: string): Promise<VerifyResult> {
  const { handle, size } = await openForReading(file);
  try {
    if (size >= PARALLEL_MIN_BYTES) return (await walkFileInRanges(file, size, new Set())).chain;
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
 * A file log's whole chain, on every core once it is large; the hashes at `wanted` seqs
 * on the way (for checkpoints).
 */
export async function walkFile(
  file: string,
  wanted: ReadonlySet<number>,
): Promise<{ chain: VerifyResult; hashes: Map<number, string> }> {
  const { handle, size } = await openForReading(file);
  await handle.close();
  if (size >= PARALLEL_MIN_BYTES) return walkFileInRanges(file, size, wanted);
  return walkFileInRanges(file, size, wanted, { parts: 1, run: checkRange });
}
