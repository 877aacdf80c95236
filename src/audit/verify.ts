// Verifies a whole audit file, streaming, and says where and how the chain breaks.
import { scanChain } from './chain-check.js';
import { openForReading } from './open-for-reading.js';
import type { VerifyResult } from './types.js';

/**
 * Detects an edited entry (hash mismatch), a deleted, inserted or reordered one (seq gap or
 * prevHash mismatch), truncation mid-line and unknown schema versions. Removing whole lines
 * from the end leaves a valid shorter chain: compare `lastHash` with one kept elsewhere to catch that.
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
