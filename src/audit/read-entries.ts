// Reads entries for display (`audit tail`), newest last, without verifying the chain.
import { UserError } from '../errors.js';
import { scanLines } from './line-scan.js';
import { openForReading } from './open-for-reading.js';
import type { AuditEntry } from './types.js';

export interface ReadAuditOptions {
  /** Keep only the last N matching entries. */
  tail?: number;
  /** Keep only entries of this run. */
  runId?: string;
}

export async function readAuditEntries(file: string, options: ReadAuditOptions = {}): Promise<AuditEntry[]> {
  const { tail, runId } = options;
  if (tail !== undefined && (!Number.isSafeInteger(tail) || tail < 1)) {
    throw new UserError(`tail must be a positive whole number of entries, got ${String(tail)}`, {
      code: 'input_invalid',
    });
  }
  if (runId !== undefined && (typeof runId !== 'string' || runId === '')) {
    throw new UserError('runId must be a non-empty string', { code: 'input_invalid' });
  }
  const { handle, size } = await openForReading(file);
  const kept: AuditEntry[] = [];
  let bad: { line: number; message: string } | null = null;
  try {
    await scanLines(handle, size, (line) => {
      // An unterminated last line is a write in progress or a torn tail the next open sets aside.
      if (!line.terminated) return false;
      let entry: AuditEntry;
      try {
        entry = JSON.parse(line.text) as AuditEntry;
      } catch (err) {
        bad = { line: line.number, message: (err as Error).message };
        return false;
      }
      if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
        bad = { line: line.number, message: 'not a JSON object' };
        return false;
      }
      if (runId !== undefined && entry.runId !== runId) return true;
      kept.push(entry);
      // Trim in bulk rather than per line: shift() on every entry is quadratic on big logs.
      if (tail !== undefined && kept.length >= tail * 2 + 1024) kept.splice(0, kept.length - tail);
      return true;
    });
  } finally {
    await handle.close();
  }
  if (bad) {
    const { line, message } = bad as { line: number; message: string };
    throw new UserError(
      `audit log ${file} line ${line} is not a readable entry (${message}); run \`mlops-agent audit verify\` to see what is wrong`,
      {
        code: 'audit_corrupt',
      },
    );
  }
  return tail !== undefined ? kept.slice(-tail) : kept;
}
