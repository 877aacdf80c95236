// The audit chain in PostgreSQL: the same entries and hashes as the file log, one chain for
// every process that shares the database (serve and its workers on many machines).
// Appends from this process are group-committed like the file log's; across processes the
// database's audit_append serialises them under one lock (see pg-schema.ts).
import pg from 'pg';
import { systemClock, type Clock } from '../clock.js';
import { UpstreamError, UserError } from '../errors.js';
import { silentLogger, type Logger } from '../logger.js';
import { entryPieces, sealEntry } from './canonical.js';
import { serializeCheckpoint } from './checkpoint-record.js';
import {
  createCheckpointer,
  DEFAULT_CHECKPOINTS,
  type CheckpointOptions,
  type Checkpointer,
  type Head,
} from './checkpointer.js';
import { checkpointAtShutdown, queueEntry, type PendingEntry } from './entry-queue.js';
import { describePostgres, openPool, pgError } from './pg-connection.js';
import { checkSchemaName, migrate } from './pg-schema.js';
import {
  AUDIT_SCHEMA_VERSION,
  type AuditEntry,
  type AuditEntryInput,
  type AuditLog,
  type Checkpoint,
  type CheckpointReason,
} from './types.js';

export interface PostgresAuditLogOptions {
  /** postgres://user:password@host:5432/db */
  url: string;
  /** Schema holding the tables (default mlops_audit). */
  schema?: string;
  clock?: Clock;
  logger?: Logger;
  checkpoints?: Partial<CheckpointOptions>;
}

const MAX_BATCH = 512;

interface Appended {
  out_first_seq: string;
  out_prev_hash: string;
  out_last_hash: string;
}

interface Columns {
  c1: string[];
  c2: string[];
  c3: string[];
  l2: string[];
  runIds: (string | null)[];
  kinds: string[];
  times: string[];
}

class PostgresAuditLog implements AuditLog {
  readonly store = 'postgres' as const;
  readonly recovered = null;
  failed: Error | null = null;
  readonly checkpointer: Checkpointer;
  private readonly queue: PendingEntry[] = [];
  private flushing: Promise<void> | null = null;
  private closed = false;
  private readonly s: string;

  constructor(
    private readonly pool: pg.Pool,
    schema: string,
    readonly location: string,
    private readonly clock: Clock,
    private seq: number,
    /** Commit without waiting for the WAL flush, then flush with a WAL message (see pg-schema.ts). */
    private readonly asyncCommit: boolean,
    options: CheckpointOptions,
    lastCheckpointSeq: number,
    private readonly logger: Logger,
  ) {
    this.s = `"${schema}"`;
    this.checkpointer = createCheckpointer({
      ...options,
      store: 'postgres',
      head: () => this.head(),
      write: (checkpoint) => this.writeCheckpoint(checkpoint),
      lastSeq: lastCheckpointSeq,
      clock,
      logger,
    });
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
    if (this.failed) return this.failed;
    if (this.closed)
      return new UpstreamError(
        'audit',
        `audit chain ${this.location} is closed in this process and accepts no more entries`,
        { retryable: false, code: 'audit_failed' },
      );
    return null;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.flushing;
    try {
      if (!this.failed) await checkpointAtShutdown(this.checkpointer, this.logger, { audit: this.location });
    } finally {
      await this.checkpointer.stop();
      await this.pool.end();
    }
  }

  /** The chain's head as committed now; a checkpoint's synchronous insert makes it durable. */
  private async head(): Promise<Head | null> {
    const { rows } = await this.pool.query<{ seq: string; hash: string }>(
      `SELECT seq, hash FROM ${this.s}.audit_entries ORDER BY seq DESC LIMIT 1`,
    );
    const row = rows[0];
    return row ? { seq: Number(row.seq), hash: row.hash, position: null } : null;
  }

  private async writeCheckpoint(checkpoint: Checkpoint): Promise<void> {
    try {
      await this.pool.query(`INSERT INTO ${this.s}.audit_checkpoints (seq, line) VALUES ($1, $2)`, [
        checkpoint.seq,
        serializeCheckpoint(checkpoint),
      ]);
    } catch (err) {
      throw pgError(this.location, 'writing an audit checkpoint', err);
    }
  }

  /**
   * One round trip: the append commits without waiting for its WAL flush (so the chain's
   * lock is held only for the work), then a transactional WAL message commits
   * synchronously, flushing the WAL past the append. A simple query takes no parameters,
   * so the values go as escaped literals.
   */
  private async appendAndFlush(c: Columns): Promise<Appended> {
    const texts = (values: readonly (string | null)[]) =>
      `ARRAY[${values.map((v) => (v === null ? 'NULL' : pg.escapeLiteral(v))).join(',')}]`;
    const sql =
      `BEGIN; SELECT out_first_seq, out_prev_hash, out_last_hash FROM ${this.s}.audit_append(true, ${texts(c.c1)}::text[], ${texts(c.c2)}::text[], ${texts(c.c3)}::text[], ` +
      `${texts(c.l2)}::text[], ${texts(c.runIds)}::text[], ${texts(c.kinds)}::text[], ${texts(c.times)}::timestamptz[]); COMMIT; ` +
      `SELECT pg_logical_emit_message(true, 'mlops-agent-audit', '')`;
    const results = (await this.pool.query(sql)) as unknown as pg.QueryResult<Appended>[];
    return results[1]!.rows[0]!;
  }

  /** Without WAL messages: a synchronous commit under the lock, which serialises the flushes too. */
  private async appendSynchronously(c: Columns): Promise<Appended> {
    const { rows } = await this.pool.query<Appended>(
      `SELECT out_first_seq, out_prev_hash, out_last_hash FROM ${this.s}.audit_append(false, $1, $2, $3, $4, $5, $6, $7)`,
      [c.c1, c.c2, c.c3, c.l2, c.runIds, c.kinds, c.times],
    );
    return rows[0]!;
  }

  private async flush(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, MAX_BATCH);
      const unnumbered = batch.map((p) => ({ schemaVersion: AUDIT_SCHEMA_VERSION, time: p.time, ...p.input }) as const);
      const pieces = unnumbered.map((e) => entryPieces(e));
      const columns = {
        c1: pieces.map((p) => p.c1),
        c2: pieces.map((p) => p.c2),
        c3: pieces.map((p) => p.c3),
        l2: pieces.map((p) => p.l2),
        runIds: unnumbered.map((e) => e.runId),
        kinds: unnumbered.map((e) => e.kind),
        times: unnumbered.map((e) => e.time),
      };
      let first: Appended;
      try {
        first = this.asyncCommit ? await this.appendAndFlush(columns) : await this.appendSynchronously(columns);
      } catch (err) {
        // Committed or not, the chain in the database stays whole; these callers learn it failed.
        const failure = pgError(this.location, 'appending to the audit chain', err);
        for (const pending of batch) pending.reject(failure);
        continue;
      }
      // The database numbered and hashed the entries; hash them here too and compare.
      let prevHash = first.out_prev_hash;
      const firstSeq = Number(first.out_first_seq);
      const entries = unnumbered.map((e, i) => {
        const { entry } = sealEntry({ ...e, seq: firstSeq + i, prevHash });
        prevHash = entry.hash;
        return entry;
      });
      if (prevHash !== first.out_last_hash) {
        this.failed = new UpstreamError(
          'audit',
          `the database hashed entries ${firstSeq} to ${firstSeq + entries.length - 1} of ${this.location} differently from this build (last hash ${first.out_last_hash}, expected ${prevHash}); stopping: run \`mlops-agent audit verify\``,
          { retryable: false, code: 'audit_failed' },
        );
        for (const pending of batch) pending.reject(this.failed);
        for (const pending of this.queue.splice(0)) pending.reject(this.failed);
        break;
      }
      this.seq = Math.max(this.seq, firstSeq + entries.length - 1);
      batch.forEach((pending, i) => pending.resolve(entries[i]!));
      this.checkpointer.appended(entries.length, {
        seq: firstSeq + entries.length - 1,
        hash: prevHash,
        position: null,
      });
    }
    this.flushing = null;
  }
}

/** Whether this role may write transactional WAL messages (the cheap way to wait for a flush). */
async function canEmitWalMessages(pool: pg.Pool): Promise<boolean> {
  try {
    await pool.query(`SELECT pg_logical_emit_message(true, 'mlops-agent-audit', 'open')`);
    return true;
  } catch (err) {
    if ((err as { code?: string }).code === '42501') return false;
    throw err;
  }
}

/**
 * Connects, creates or upgrades the schema when needed (see pg-schema.ts), and reads the
 * chain's head: opening costs the same however long the chain is.
 */
export async function openPostgresAuditLog(options: PostgresAuditLogOptions): Promise<AuditLog> {
  const { clock = systemClock, logger = silentLogger } = options;
  const schema = checkSchemaName(options.schema ?? 'mlops_audit');
  const location = describePostgres(options.url, schema);
  const pool = openPool(options.url, logger);
  try {
    await migrate(pool, schema, location);
    const s = `"${schema}"`;
    const head = await pool.query<{ seq: string }>(`SELECT seq FROM ${s}.audit_entries ORDER BY seq DESC LIMIT 1`);
    const last = await pool.query<{ seq: string }>(`SELECT max(seq) AS seq FROM ${s}.audit_checkpoints`);
    const asyncCommit = await canEmitWalMessages(pool);
    if (!asyncCommit)
      logger.warn(
        { audit: location },
        'this role may not write WAL messages (pg_logical_emit_message); audit appends commit synchronously under the chain lock, which is slower with many writers',
      );
    const log = new PostgresAuditLog(
      pool,
      schema,
      location,
      clock,
      Number(head.rows[0]?.seq ?? 0),
      asyncCommit,
      { ...DEFAULT_CHECKPOINTS, ...options.checkpoints },
      Number(last.rows[0]?.seq ?? 0),
      logger,
    );
    log.checkpointer.start();
    return log;
  } catch (err) {
    await pool.end().catch(() => undefined);
    if (err instanceof UpstreamError || err instanceof UserError) throw err;
    throw pgError(location, 'opening the audit chain', err);
  }
}
