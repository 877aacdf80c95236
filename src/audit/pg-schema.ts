// The PostgreSQL audit schema and its migration. The tables are append-only in the
// database itself: triggers refuse UPDATE, DELETE and TRUNCATE (whoever asks), and a
// trigger refuses an entry that does not follow the one before it. The append function
// serialises appends from every connection under one advisory lock.
import type { Pool, PoolClient } from 'pg';
import { UpstreamError, UserError, describeError } from '../errors.js';

/** Bump with a new step in `migrationSql` when the schema changes. */
export const PG_SCHEMA_VERSION = 1;

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

export function checkSchemaName(schema: string): string {
  if (!SCHEMA_NAME.test(schema)) {
    throw new UserError(
      `audit.postgresSchema "${schema}" must be a lowercase SQL name (letters, digits, "_"; e.g. mlops_audit)`,
      { code: 'config_invalid' },
    );
  }
  return schema;
}

/** The DDL of version 1, idempotent; `s` is a checked schema name. */
export function migrationSql(schema: string): string {
  const s = `"${checkSchemaName(schema)}"`;
  const lockKey = `hashtextextended('mlops-agent audit ${schema}', 0)`;
  return `
CREATE SCHEMA IF NOT EXISTS ${s};
CREATE TABLE IF NOT EXISTS ${s}.audit_meta (
  singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  version integer NOT NULL
);
CREATE TABLE IF NOT EXISTS ${s}.audit_entries (
  seq bigint PRIMARY KEY CHECK (seq >= 1),
  run_id text,
  kind text NOT NULL,
  time timestamptz NOT NULL,
  -- Lengths only: a regular expression here cost a third of an append's time under the
  -- chain lock; audit_append writes hex, and verify checks every hash's form.
  prev_hash text NOT NULL CHECK (char_length(prev_hash) = 64),
  hash text NOT NULL CHECK (char_length(hash) = 64),
  -- The entry exactly as hashed and as a file log would hold it: verify reads this.
  line text NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_entries_by_run ON ${s}.audit_entries (run_id, seq) WHERE run_id IS NOT NULL;
CREATE TABLE IF NOT EXISTS ${s}.audit_checkpoints (
  seq bigint NOT NULL,
  recorded_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  line text NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_checkpoints_by_seq ON ${s}.audit_checkpoints (seq);

CREATE OR REPLACE FUNCTION ${s}.audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  RAISE EXCEPTION 'the audit table %.% is append-only: % is refused', TG_TABLE_SCHEMA, TG_TABLE_NAME, TG_OP;
END
$fn$;

CREATE OR REPLACE FUNCTION ${s}.audit_check_link() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  IF NEW.seq = 1 THEN
    IF NEW.prev_hash <> repeat('0', 64) THEN
      RAISE EXCEPTION 'audit chain: seq 1 must follow the genesis hash';
    END IF;
  ELSIF NOT EXISTS (SELECT 1 FROM ${s}.audit_entries e WHERE e.seq = NEW.seq - 1 AND e.hash = NEW.prev_hash) THEN
    RAISE EXCEPTION 'audit chain: seq % does not follow an entry % with hash %', NEW.seq, NEW.seq - 1, NEW.prev_hash;
  END IF;
  RETURN NEW;
END
$fn$;

DROP TRIGGER IF EXISTS audit_entries_append_only ON ${s}.audit_entries;
CREATE TRIGGER audit_entries_append_only BEFORE UPDATE OR DELETE ON ${s}.audit_entries FOR EACH ROW EXECUTE FUNCTION ${s}.audit_refuse_change();
DROP TRIGGER IF EXISTS audit_entries_no_truncate ON ${s}.audit_entries;
CREATE TRIGGER audit_entries_no_truncate BEFORE TRUNCATE ON ${s}.audit_entries FOR EACH STATEMENT EXECUTE FUNCTION ${s}.audit_refuse_change();
DROP TRIGGER IF EXISTS audit_entries_link ON ${s}.audit_entries;
CREATE TRIGGER audit_entries_link BEFORE INSERT ON ${s}.audit_entries FOR EACH ROW EXECUTE FUNCTION ${s}.audit_check_link();
DROP TRIGGER IF EXISTS audit_checkpoints_append_only ON ${s}.audit_checkpoints;
CREATE TRIGGER audit_checkpoints_append_only BEFORE UPDATE OR DELETE ON ${s}.audit_checkpoints FOR EACH ROW EXECUTE FUNCTION ${s}.audit_refuse_change();
DROP TRIGGER IF EXISTS audit_checkpoints_no_truncate ON ${s}.audit_checkpoints;
CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON ${s}.audit_checkpoints FOR EACH STATEMENT EXECUTE FUNCTION ${s}.audit_refuse_change();

-- Appends a batch after the head, under one lock for the whole chain. The caller sends each
-- entry as the pieces around its seq and prevHash (see canonical.ts, pgEntryPieces), so the
-- hash is computed here and the lock is held for this work only. With p_async the commit
-- does not wait for its WAL flush; the caller's next statement, a transactional WAL
-- message committed synchronously, does, and appends from many connections share flushes.
CREATE OR REPLACE FUNCTION ${s}.audit_append(
  p_async boolean, p_c1 text[], p_c2 text[], p_c3 text[], p_l2 text[], p_run_ids text[], p_kinds text[], p_times timestamptz[],
  OUT out_first_seq bigint, OUT out_prev_hash text, OUT out_last_hash text
) LANGUAGE plpgsql AS $fn$
DECLARE
  head_seq bigint;
  head_hash text;
  h text;
BEGIN
  IF p_async THEN
    PERFORM set_config('synchronous_commit', 'off', true);
  END IF;
  PERFORM pg_advisory_xact_lock(${lockKey});
  SELECT e.seq, e.hash INTO head_seq, head_hash FROM ${s}.audit_entries e ORDER BY e.seq DESC LIMIT 1;
  IF NOT FOUND THEN
    head_seq := 0;
    head_hash := repeat('0', 64);
  END IF;
  out_first_seq := head_seq + 1;
  out_prev_hash := head_hash;
  FOR i IN 1 .. coalesce(array_length(p_c1, 1), 0) LOOP
    head_seq := head_seq + 1;
    h := encode(sha256(convert_to(p_c1[i] || head_hash || p_c2[i] || head_seq::text || p_c3[i], 'UTF8')), 'hex');
    INSERT INTO ${s}.audit_entries (seq, run_id, kind, time, prev_hash, hash, line)
    VALUES (head_seq, p_run_ids[i], p_kinds[i], p_times[i], head_hash, h,
            '{"schemaVersion":1,"seq":' || head_seq::text || p_l2[i] || head_hash || '","hash":"' || h || '"}');
    head_hash := h;
  END LOOP;
  out_last_hash := head_hash;
END
$fn$;

INSERT INTO ${s}.audit_meta (singleton, version) VALUES (true, ${PG_SCHEMA_VERSION})
ON CONFLICT (singleton) DO NOTHING;
`;
}

/** The schema's version, or null when it has not been created. */
async function installedVersion(client: Pool | PoolClient, schema: string): Promise<number | null> {
  const exists = await client.query<{ t: string | null }>('SELECT to_regclass($1) AS t', [`"${schema}".audit_meta`]);
  if (!exists.rows[0]?.t) return null;
  const row = await client.query<{ version: number }>(`SELECT version FROM "${schema}".audit_meta`);
  return row.rows[0]?.version ?? null;
}

/**
 * Creates or upgrades the schema unless it is already current. A role with INSERT and
 * SELECT only (as the app's should be) needs nothing here once an owner has migrated.
 */
export async function migrate(pool: Pool, schema: string, where: string): Promise<'current' | 'migrated'> {
  checkSchemaName(schema);
  const version = await installedVersion(pool, schema);
  if (version === PG_SCHEMA_VERSION) return 'current';
  if (version !== null && version > PG_SCHEMA_VERSION) {
    throw new UserError(
      `the audit schema ${schema} in ${where} is at version ${version}; this build knows version ${PG_SCHEMA_VERSION}: use the mlops-agent release that migrated it`,
      { code: 'config_invalid' },
    );
  }
  const encoding = await pool.query<{ server_encoding: string }>('SHOW server_encoding');
  if (encoding.rows[0]?.server_encoding !== 'UTF8') {
    throw new UserError(
      `the database ${where} uses encoding ${encoding.rows[0]?.server_encoding}; the audit chain needs a UTF8 database (CREATE DATABASE … ENCODING 'UTF8')`,
      { code: 'config_invalid' },
    );
  }
  const client = await pool.connect();
  const lockKey = `hashtextextended('mlops-agent audit migrate ${schema}', 0)`;
  let locked = false;
  try {
    // Processes starting together migrate one at a time. The lock is the session's and is
    // taken before BEGIN: a transaction begun before another process's migration committed
    // can still see the schema as missing (its catalog cache is refreshed at BEGIN, not at
    // an advisory lock), would run the DDL again, and deadlock with that process's appends.
    await client.query(`SELECT pg_advisory_lock(${lockKey})`);
    locked = true;
    await client.query('BEGIN');
    if ((await installedVersion(client, schema)) !== PG_SCHEMA_VERSION) await client.query(migrationSql(schema));
    await client.query('COMMIT');
    return 'migrated';
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    const code = (err as { code?: string }).code;
    if (code === '42501') {
      throw new UserError(
        `the audit schema ${schema} in ${where} is ${version === null ? 'missing' : `at version ${version}`} and this role may not create it (${describeError(err)}): ` +
          'run `mlops-agent audit migrate` once with DATABASE_URL set to a role that may (see the README, "PostgreSQL audit store")',
        { code: 'config_invalid', cause: err },
      );
    }
    throw new UpstreamError('audit', `migrating the audit schema ${schema} in ${where} failed: ${describeError(err)}`, {
      retryable: false,
      code: 'audit_failed',
      cause: err,
    });
  } finally {
    // A connection that could not give the lock back is closed, not returned to the pool.
    const unlocked =
      !locked ||
      (await client.query(`SELECT pg_advisory_unlock(${lockKey})`).then(
        () => true,
        () => false,
      ));
    client.release(!unlocked);
  }
}
