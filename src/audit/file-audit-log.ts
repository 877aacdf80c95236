// The audit log as an fsync'd, hash-chained JSONL file. Appends are serialised and
// group-committed: whatever queued while one write+fsync ran goes out in the next one.
// Checkpoints go to a second file beside it; opening resumes at the last one, so a start
// costs the entries written since, not the whole log (`audit verify` checks all of it).
import { open, type FileHandle } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { systemClock, type Clock } from '../clock.js';
import { UpstreamError, UserError, describeError } from '../errors.js';
import { silentLogger, type Logger } from '../logger.js';
import { sealEntry } from './canonical.js';
import { checkpointFileFor, openCheckpointFile, type CheckpointFile } from './checkpoint-file.js';
import { createCheckpointer, DEFAULT_CHECKPOINTS, type CheckpointOptions, type Checkpointer } from './checkpointer.js';
import { findResumePoint } from './file-resume.js';
import { scanChain } from './chain-check.js';
import { fsyncDir, mkdirPrivate, PRIVATE_FILE_MODE, writeAll } from '../durable-file.js';
import { acquireFileLock, type HeldLock } from '../file-lock.js';
import { checkpointAtShutdown, queueEntry, type PendingEntry } from './entry-queue.js';
import { setAsideTornTail } from './torn-tail.js';
import {
  AUDIT_SCHEMA_VERSION,
  type AuditEntry,
  type AuditEntryInput,
  type AuditLog,
  type Checkpoint,
  type CheckpointReason,
  type TornTailReport,
} from './types.js';

export interface FileAuditLogOptions {
  file: string;
  clock?: Clock;
  logger?: Logger;
  /** When and how checkpoints are written (default: unsigned, every 1,000 entries or minute). */
  checkpoints?: Partial<CheckpointOptions>;
}

/** Bounds one group commit so a burst cannot build an unbounded buffer. */
const MAX_BATCH = 1024;

// Two writers on one file would fork the chain; within a process we can refuse the second.
// (Separate processes sharing a file are not guarded: give each its own audit.file.)
const openFiles = new Set<string>();

class FileAuditLog implements AuditLog {
  readonly store = 'file' as const;
  recovered: TornTailReport | null = null;
  failed: Error | null = null;
  readonly checkpointer: Checkpointer;
  private readonly queue: PendingEntry[] = [];
  private flushing: Promise<void> | null = null;
  private closed = false;

  constructor(
    private readonly file: string,
    private readonly handle: FileHandle,
    private readonly clock: Clock,
    private seq: number,
    private prevHash: string,
    /** Bytes of whole entries: where the next one starts. */
    private position: number,
    private readonly lock: HeldLock,
    private readonly checkpoints: CheckpointFile,
    options: CheckpointOptions,
    private readonly logger: Logger,
  ) {
    this.checkpointer = createCheckpointer({
      ...options,
      store: 'file',
      head: () => (this.failed ? null : { seq: this.seq, hash: this.prevHash, position: this.position }),
      write: (checkpoint) => checkpoints.append(checkpoint),
      lastSeq: checkpoints.last()?.seq ?? 0,
      clock,
      logger,
    });
  }

  get location(): string {
    return this.file;
  }

  lastSeq(): number {
    return this.seq;
  }

  checkpoint(reason: CheckpointReason = 'requested'): Promise<Checkpoint | null> {
    return this.checkpointer.checkpoint(reason);
  }

  append(input: AuditEntryInput): Promise<AuditEntry> {
    return queueEntry(input, this.refusal(), this.clock, this.queue, () => {
      this.flushing ??= this.flush();
    });
  }

  /** Why no entry may be appended now, or null. */
  private refusal(): Error | null {
    if (this.failed) return this.failedError();
    if (this.closed)
      return new UpstreamError('audit', `audit log ${this.file} is closed and accepts no more entries`, {
        retryable: false,
        code: 'audit_failed',
      });
    return null;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.flushing;
    try {
      // The head this writer leaves: entries found after it at the next open were not written by an agent.
      if (!this.failed) await checkpointAtShutdown(this.checkpointer, this.logger, { auditFile: this.file });
    } finally {
      try {
        await this.checkpointer.stop();
        await this.checkpoints.close();
        await this.handle.close();
      } finally {
        openFiles.delete(this.file);
        await this.lock.release();
      }
    }
  }

  private failedError(): UpstreamError {
    return new UpstreamError(
      'audit',
      `audit log ${this.file} failed earlier and accepts no more entries (${describeError(this.failed)}); fix the disk and restart`,
      {
        retryable: false,
        code: 'audit_failed',
        cause: this.failed,
      },
    );
  }

  private async flush(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, MAX_BATCH);
      let prevHash = this.prevHash;
      let text = '';
      const entries = batch.map((pending, i) => {
        const { entry, line } = sealEntry({
          schemaVersion: AUDIT_SCHEMA_VERSION,
          seq: this.seq + i + 1,
          time: pending.time,
          ...pending.input,
          prevHash,
        });
        text += `${line}\n`;
        prevHash = entry.hash;
        return entry;
      });
      const bytes = Buffer.from(text);
      try {
        await writeAll(this.handle, bytes);
        await this.handle.sync();
      } catch (err) {
        // Fail closed: bytes may be half on disk, so no later entry may follow them. The next
        // open sets any torn tail aside.
        this.failed = new UpstreamError('audit', `cannot write audit log ${this.file}: ${describeError(err)}`, {
          retryable: false,
          code: 'audit_failed',
          cause: err,
        });
        for (const pending of batch) pending.reject(this.failed);
        for (const pending of this.queue.splice(0)) pending.reject(this.failedError());
        break;
      }
      this.seq += entries.length;
      this.prevHash = prevHash;
      this.position += bytes.length;
      batch.forEach((pending, i) => pending.resolve(entries[i]!));
      this.checkpointer.appended(entries.length, { seq: this.seq, hash: this.prevHash, position: this.position });
    }
    this.flushing = null;
  }
}

async function openHandle(file: string): Promise<FileHandle> {
  try {
    await mkdirPrivate(dirname(file));
    // a+: append-only writes, plus positional reads to check the chain and find a torn tail.
    const handle = await open(file, 'a+', PRIVATE_FILE_MODE);
    await fsyncDir(dirname(file));
    return handle;
  } catch (err) {
    throw new UpstreamError(
      'audit',
      `cannot open audit log ${file}: ${describeError(err)}; point audit.file (or MLOPS_AGENT_AUDIT_FILE) at a writable file`,
      {
        retryable: false,
        code: 'audit_failed',
        cause: err,
      },
    );
  }
}

async function acquireWriterLock(file: string): Promise<HeldLock> {
  await mkdirPrivate(dirname(file));
  try {
    // Held for the writer's lifetime: only a dead owner's lock is taken over, never an old one.
    return await acquireFileLock(`${file}.lock`, {
      timeoutMs: 2_000,
      staleMs: Number.POSITIVE_INFINITY,
      service: 'audit',
    });
  } catch (err) {
    if (err instanceof UpstreamError && err.code === 'upstream_timeout') {
      throw new UpstreamError(
        'audit',
        `audit log ${file} is being written by another mlops-agent process (${err.message}); run one writer per audit file, or give this one its own with audit.file`,
        { retryable: true, code: 'audit_failed', cause: err },
      );
    }
    throw err;
  }
}

/**
 * Opens (creating as needed) an audit log and checks the chain from its last checkpoint
 * (from the top when it has none). A torn last line is set aside and recorded; a break,
 * or a log that contradicts its last checkpoint, refuses to open with `audit_corrupt`.
 */
export async function openFileAuditLog(options: FileAuditLogOptions): Promise<AuditLog> {
  const { clock = systemClock, logger = silentLogger } = options;
  if (typeof options.file !== 'string' || options.file === '') {
    throw new UserError('audit log file must be a non-empty path (set audit.file or MLOPS_AGENT_AUDIT_FILE)', {
      code: 'config_invalid',
    });
  }
  const checkpointOptions: CheckpointOptions = { ...DEFAULT_CHECKPOINTS, ...options.checkpoints };
  const file = resolve(options.file);
  if (openFiles.has(file)) {
    throw new UserError(
      `audit log ${file} is already open in this process; share the one AuditLog instead of opening it twice`,
      { code: 'input_invalid' },
    );
  }
  // One writer per file across processes too: two appenders would fork the chain.
  const lock = await acquireWriterLock(file);
  let handle: FileHandle;
  try {
    handle = await openHandle(file);
  } catch (err) {
    await lock.release();
    throw err;
  }
  openFiles.add(file);
  let checkpoints: CheckpointFile | null = null;
  try {
    checkpoints = await openCheckpointFile(checkpointFileFor(file));
    const { size } = await handle.stat();
    const last = checkpoints.last();
    const resume = await findResumePoint({ file, handle, size, last, signer: checkpointOptions.signer, logger });
    // Scanning from the top though a checkpoint exists: note the hash at its seq on the way.
    const wanted = resume.start ? null : (last?.seq ?? null);
    let hashAtWanted: string | undefined;
    const noteWanted = (entry: AuditEntry): void => {
      if (entry.seq === wanted) hashAtWanted = entry.hash;
    };
    const scan = await scanChain(handle, size, wanted === null ? undefined : noteWanted, resume.start);
    const brk = scan.break;
    const torn = brk !== null && brk.atEnd && (brk.kind === 'truncated' || brk.kind === 'unparseable');
    if (brk && !torn) {
      throw new UserError(
        `audit log ${file} is corrupt: the chain breaks at seq ${scan.entries + 1} (line ${brk.line}): ${brk.problem}. ` +
          'Refusing to append to a tampered log; run `mlops-agent audit verify` to inspect it, and keep the file as evidence.',
        { code: 'audit_corrupt' },
      );
    }
    resume.check(scan, (seq) => (seq === wanted ? hashAtWanted : undefined));
    const log = new FileAuditLog(
      file,
      handle,
      clock,
      scan.entries,
      scan.lastHash,
      scan.goodBytes,
      lock,
      checkpoints,
      checkpointOptions,
      logger,
    );
    // First, before anything this process appends: the head as found (see verify-report.ts, lifecycle).
    await log.checkpointer.checkpoint('open');
    if (brk && torn) {
      const aside = await setAsideTornTail({
        file,
        handle,
        goodBytes: scan.goodBytes,
        size,
        seq: scan.entries + 1,
        now: clock.now(),
      });
      const entry = await log.append({
        runId: null,
        principal: 'mlops-agent',
        kind: 'audit.torn_tail_set_aside',
        data: {
          bytes: aside.bytes,
          sha256: aside.sha256,
          savedTo: aside.savedTo,
          line: brk.line,
          problem: brk.problem,
        },
      });
      log.recovered = { ...aside, problem: brk.problem, recordedAtSeq: entry.seq };
      logger.warn(
        { auditFile: file, ...log.recovered },
        'audit log had a torn last line (crash mid-write); set it aside and continued the chain',
      );
    }
    log.checkpointer.start();
    return log;
  } catch (err) {
    openFiles.delete(file);
    await checkpoints?.close().catch(() => undefined);
    await handle.close().catch(() => undefined);
    await lock.release();
    throw err;
  }
}
