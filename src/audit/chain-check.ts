// The rules one line must meet to extend the chain; shared by verify and by open.
import type { FileHandle } from 'node:fs/promises';
import { hashEntry } from './canonical.js';
import { scanLines, type Line } from './line-scan.js';
import { AUDIT_SCHEMA_VERSION, GENESIS_HASH, type AuditEntry, type VerifyProblemKind } from './types.js';

const FIELDS = ['schemaVersion', 'seq', 'time', 'runId', 'principal', 'kind', 'data', 'prevHash', 'hash'] as const;
const FIELD_SET: ReadonlySet<string> = new Set(FIELDS);
const HEX64 = /^[0-9a-f]{64}$/;

export type LineVerdict = { entry: AuditEntry } | { kind: VerifyProblemKind; problem: string };

/**
 * The first thing wrong with an entry's fields, or null. The hex test of prevHash is
 * skipped when it equals the expected (valid) hash: verify spends its time per line here.
 */
function shapeProblem(value: Record<string, unknown>, expectedPrevHash: string): string | null {
  const keys = Object.keys(value);
  for (const key of keys) {
    if (!FIELD_SET.has(key)) return `entry has an unexpected field "${key}"`;
  }
  if (keys.length !== FIELDS.length) {
    for (const key of FIELDS) if (!(key in value)) return `entry is missing the field "${key}"`;
  }
  const { seq, time, runId, principal, kind, data, prevHash, hash } = value;
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 1) return 'seq must be a positive integer';
  if (typeof time !== 'string' || Number.isNaN(Date.parse(time))) return 'time must be an ISO 8601 string';
  if (runId !== null && typeof runId !== 'string') return 'runId must be a string or null';
  if (typeof principal !== 'string') return 'principal must be a string';
  if (typeof kind !== 'string') return 'kind must be a string';
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return 'data must be a JSON object';
  if (typeof prevHash !== 'string' || (prevHash !== expectedPrevHash && !HEX64.test(prevHash)))
    return 'prevHash must be 64 lowercase hex digits';
  // Its hex form is tested only when it does not match the computed hash (checkLine).
  if (typeof hash !== 'string') return 'hash must be 64 lowercase hex digits';
  return null;
}

/** Judges one line against the seq and hash the chain expects next. */
export function checkLine(text: string, terminated: boolean, expectedSeq: number, prevHash: string): LineVerdict {
  if (!terminated) {
    return {
      kind: 'truncated',
      problem: 'the last line has no trailing newline: the file was truncated mid-line or a write was torn',
    };
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return { kind: 'unparseable', problem: `line is not valid JSON (${(err as Error).message})` };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { kind: 'unparseable', problem: 'line is JSON but not an object' };
  }
  const record = value as Record<string, unknown>;
  if (record.schemaVersion !== AUDIT_SCHEMA_VERSION) {
    const found = JSON.stringify(record.schemaVersion) ?? 'nothing';
    return {
      kind: 'unsupported_schema',
      problem: `unsupported schemaVersion ${found}: this build reads version ${AUDIT_SCHEMA_VERSION}; use the mlops-agent release that wrote the log`,
    };
  }
  const shape = shapeProblem(record, prevHash);
  if (shape) return { kind: 'invalid_entry', problem: shape };
  const entry = record as unknown as AuditEntry;
  if (entry.seq !== expectedSeq) {
    return {
      kind: 'seq_gap',
      problem: `expected seq ${expectedSeq} but found seq ${entry.seq}: an entry was deleted, inserted or reordered`,
    };
  }
  if (entry.prevHash !== prevHash) {
    return {
      kind: 'prev_hash_mismatch',
      problem: `prevHash does not match the hash of seq ${expectedSeq - 1}: an entry before it was deleted, replaced or reordered`,
    };
  }
  if (hashEntry(entry) !== entry.hash) {
    if (!HEX64.test(entry.hash)) return { kind: 'invalid_entry', problem: 'hash must be 64 lowercase hex digits' };
    return { kind: 'hash_mismatch', problem: 'the entry hash does not match its contents: the entry was edited' };
  }
  return { entry };
}

export interface ChainScan {
  /** Seq of the last good entry: the number of entries, since seqs start at 1 with no gaps. */
  entries: number;
  lastHash: string;
  /** Byte offset just past the last good line. */
  goodBytes: number;
  break: {
    line: number;
    kind: VerifyProblemKind;
    problem: string;
    /** The break is the file's last line. */ atEnd: boolean;
  } | null;
}

/** A point of the chain already known good: the entry `seq` with `hash` ends at byte `position`. */
export interface ChainPoint {
  seq: number;
  hash: string;
  position: number;
}

/**
 * Walks the chain through the first `size` bytes of a file, stopping at the first break;
 * from `start` when given (the entries before it are taken as read), else from the top.
 */
export async function scanChain(
  handle: FileHandle,
  size: number,
  onEntry?: (entry: AuditEntry, line: Line) => void,
  start?: ChainPoint,
): Promise<ChainScan> {
  const result: ChainScan = start
    ? { entries: start.seq, lastHash: start.hash, goodBytes: start.position, break: null }
    : { entries: 0, lastHash: GENESIS_HASH, goodBytes: 0, break: null };
  await scanLines(
    handle,
    size,
    (line) => {
      const verdict = checkLine(line.text, line.terminated, result.entries + 1, result.lastHash);
      if ('entry' in verdict) {
        result.entries++;
        result.lastHash = verdict.entry.hash;
        result.goodBytes = line.end;
        onEntry?.(verdict.entry, line);
        return true;
      }
      result.break = { line: line.number, kind: verdict.kind, problem: verdict.problem, atEnd: line.end === size };
      return false;
    },
    { position: result.goodBytes, line: result.entries + 1 },
  );
  return result;
}
