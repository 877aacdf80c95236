// Where opening a file log starts checking: just past the entry its last checkpoint names,
// once the log is seen to agree with that checkpoint. The entries before it were checked
// when they were written; `audit verify` checks them all again.
import type { FileHandle } from 'node:fs/promises';
import { UserError } from '../errors.js';
import type { Logger } from '../logger.js';
import { hashEntry } from './canonical.js';
import type { ChainPoint, ChainScan } from './chain-check.js';
import { describeCheckpoint } from './checkpoint-record.js';
import { lineEndingAt } from './line-scan.js';
import { checkSignature, keyRing, type CheckpointSigner } from './signing.js';
import type { AuditEntry, Checkpoint } from './types.js';

export interface ResumePoint {
  /** Scan from here; undefined: from the top. */
  start: ChainPoint | undefined;
  /** Throws `audit_corrupt` when the scanned chain contradicts the checkpoint. */
  check(scan: ChainScan, hashAt: (seq: number) => string | undefined): void;
}

function corrupt(file: string, problem: string): UserError {
  return new UserError(
    `audit log ${file} contradicts its checkpoints: ${problem}. Refusing to append to a tampered log; run \`mlops-agent audit verify\` to inspect it, and keep the log and ${file}.checkpoints as evidence.`,
    { code: 'audit_corrupt' },
  );
}

/** The entry whose line ends at `position`, if it is the one the checkpoint names and its hash holds. */
async function entryAt(handle: FileHandle, checkpoint: Checkpoint & { position: number }): Promise<AuditEntry | null> {
  const line = await lineEndingAt(handle, checkpoint.position);
  if (line === null) return null;
  try {
    const entry = JSON.parse(line) as AuditEntry;
    return entry.seq === checkpoint.seq && entry.hash === checkpoint.hash && hashEntry(entry) === entry.hash
      ? entry
      : null;
  } catch {
    return null;
  }
}

export async function findResumePoint(options: {
  file: string;
  handle: FileHandle;
  size: number;
  last: Checkpoint | null;
  signer: CheckpointSigner | null;
  logger: Logger;
}): Promise<ResumePoint> {
  const { file, handle, size, last, signer, logger } = options;
  if (!last) return { start: undefined, check: () => undefined };
  const named = describeCheckpoint(last);
  if (last.store !== 'file' || last.position === null) throw corrupt(file, `${named} is not a file log's checkpoint`);
  // Signed by our own key: a bad signature means someone edited the checkpoints file.
  if (signer && last.keyId === signer.keyId && checkSignature(last, keyRing([signer.publicKey])) !== 'valid') {
    throw corrupt(file, `${named} does not verify with the signing key: it was edited or forged`);
  }
  const checkShutdown = (scan: ChainScan): void => {
    if (last.reason === 'shutdown' && scan.entries > last.seq) {
      throw corrupt(
        file,
        `entries ${last.seq + 1} to ${scan.entries} were appended after the log was closed by ${named}: no mlops-agent process wrote them`,
      );
    }
  };
  const position = last.position;
  const entry = size >= position ? await entryAt(handle, { ...last, position }) : null;
  if (entry) return { start: { seq: last.seq, hash: last.hash, position }, check: checkShutdown };
  // Cut short, edited, or the bytes moved: the whole chain says which, and where.
  logger.warn(
    { auditFile: file, seq: last.seq, position, size },
    'the last audit checkpoint does not point at its entry; checking the whole log',
  );
  return {
    start: undefined,
    check(scan, hashAt) {
      if (scan.entries < last.seq)
        throw corrupt(
          file,
          `the chain ends at seq ${scan.entries}, but ${named} covers seq ${last.seq}: entries were removed`,
        );
      if (hashAt(last.seq) !== last.hash)
        throw corrupt(
          file,
          `the entry at seq ${last.seq} has another hash than ${named} signed: the chain was rewritten`,
        );
      checkShutdown(scan);
    },
  };
}
