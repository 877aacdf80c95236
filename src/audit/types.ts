// The shapes of the audit log: what callers append, what lands on disk, what verify reports.

/** The schema version this build writes; older versions stay readable through their fixtures. */
export const AUDIT_SCHEMA_VERSION = 1;

/** prevHash of the first entry in a chain. */
export const GENESIS_HASH = '0'.repeat(64);

export interface AuditEntryInput {
  runId: string | null;
  principal: string;
  /** What happened: `run.started`, `policy.decision`, `execution.finished`, … */
  kind: string;
  /** JSON-safe details: plain objects, arrays, strings, finite numbers, booleans, null. */
  data: Record<string, unknown>;
}

export interface AuditEntry extends AuditEntryInput {
  schemaVersion: 1;
  seq: number;
  /** ISO 8601, from the log's Clock at the moment `append` was called. */
  time: string;
  prevHash: string;
  /** SHA-256 hex of the RFC 8785 canonical JSON of every other field. */
  hash: string;
}

/** What `openFileAuditLog` did with a torn last line left by a crash mid-write. */
export interface TornTailReport {
  /** Length of the set-aside bytes. */
  bytes: number;
  /** SHA-256 hex of the set-aside bytes. */
  sha256: string;
  /** Where the bytes were saved, beside the log. */
  savedTo: string;
  /** Why the line was judged torn. */
  problem: string;
  /** Seq of the `audit.torn_tail_set_aside` entry that records the recovery. */
  recordedAtSeq: number;
}

/** Where a chain is kept. */
export type AuditStoreKind = 'file' | 'postgres';

/** Why a checkpoint was written. */
export type CheckpointReason =
  /** A file log was opened: the head it was found at. */
  | 'open'
  /** Every `everyEntries` appends or `everyMs`, when there are new entries. */
  | 'periodic'
  /** The log was closed: the head its writer left. */
  | 'shutdown'
  /** Asked for (an evidence export through serve). */
  | 'requested';

/** The schema version of checkpoint records this build writes. */
export const CHECKPOINT_SCHEMA_VERSION = 1;

/**
 * A statement, signed with the operator's Ed25519 key, that the chain's entry `seq` had
 * hash `hash` at `time`. Kept apart from the log (a second file or table), so cutting
 * entries or rewriting them afterwards contradicts it. Unsigned ones (no key configured)
 * only mark a position: they let a log open fast and catch accidents, and prove nothing.
 */
export interface Checkpoint {
  schemaVersion: 1;
  kind: 'audit.checkpoint';
  store: AuditStoreKind;
  seq: number;
  hash: string;
  /** File store: byte offset just past entry `seq`, where opening resumes; null in PostgreSQL. */
  position: number | null;
  time: string;
  reason: CheckpointReason;
  /** Which process wrote it (host:pid): a PostgreSQL chain has many writers. */
  writer: string;
  /** First 16 hex digits of SHA-256 of the raw public key; null when unsigned. */
  keyId: string | null;
  /** Base64 Ed25519 signature over the canonical JSON of every other field; null when unsigned. */
  signature: string | null;
}

/** The part of the audit log a room that only records needs. An append resolves only once the entry is durable. */
export interface AuditAppender {
  append(entry: AuditEntryInput): Promise<unknown>;
}

export interface AuditLog {
  /** Resolves once the entry is durable (fsync'd, or committed and flushed); rejects with UpstreamError `audit_failed` if not. */
  append(entry: AuditEntryInput): Promise<AuditEntry>;
  /** Where this chain is kept. */
  readonly store: AuditStoreKind;
  /** A file path, or the PostgreSQL database and schema (no password): for messages. */
  readonly location: string;
  /** Records a checkpoint of the last durable entry this process knows; null when the chain is empty. */
  checkpoint(reason?: CheckpointReason): Promise<Checkpoint | null>;
  /** Set when opening found and set aside a torn last line. */
  readonly recovered: TornTailReport | null;
  /** Set after a write or fsync failed; every later append rejects with it. */
  readonly failed: Error | null;
  /** Seq of the last entry on disk (0 for an empty log). */
  lastSeq(): number;
  /** Waits for pending appends, writes a `shutdown` checkpoint, then closes. Later appends reject. */
  close(): Promise<void>;
}

/** Machine-readable name of what broke the chain. */
export type VerifyProblemKind =
  | 'hash_mismatch'
  | 'seq_gap'
  | 'prev_hash_mismatch'
  | 'unparseable'
  | 'truncated'
  | 'unsupported_schema'
  | 'invalid_entry';

export type VerifyResult =
  | { ok: true; entries: number; lastHash: string }
  | {
      ok: false;
      /** Entries that verified before the break. */
      entries: number;
      /** The seq expected at the break: every entry before it is intact. */
      firstBadSeq: number;
      /** 1-based line number of the break. */
      line: number;
      /** A sentence saying what is wrong, for operators. */
      problem: string;
      kind: VerifyProblemKind;
    };
