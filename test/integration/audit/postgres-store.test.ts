// What the PostgreSQL audit store guarantees in the database itself, and across processes.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import {
  keyRing,
  openPostgresAuditLog,
  openPostgresAuditReader,
  sealEntry,
  verifyAudit,
  type AuditLog,
} from '../../../src/audit/index.js';
import { UpstreamError } from '../../../src/errors.js';
import { dropSchema, PG_URL, uniqueSchema, withAdmin } from '../../support/postgres.js';

const schemas: string[] = [];
const roles: string[] = [];
const logs: AuditLog[] = [];
afterEach(async () => {
  for (const log of logs.splice(0)) await log.close().catch(() => undefined);
  for (const schema of schemas.splice(0)) await dropSchema(schema);
  for (const role of roles.splice(0)) {
    await withAdmin(async (c) => {
      await c.query(`DROP OWNED BY "${role}"`);
      await c.query(`DROP ROLE IF EXISTS "${role}"`);
    });
  }
});

async function chain(url = PG_URL): Promise<{ schema: string; log: AuditLog }> {
  const schema = uniqueSchema();
  schemas.push(schema);
  const log = await openPostgresAuditLog({ url, schema });
  logs.push(log);
  return { schema, log };
}

const entry = (i: number) => ({ runId: 'run-1', principal: 'user:alice', kind: 'planner.turn', data: { i } });

async function verify(schema: string) {
  const reader = openPostgresAuditReader({ url: PG_URL, schema });
  try {
    return await verifyAudit(reader, { keys: keyRing([]) });
  } finally {
    await reader.close();
  }
}

describe('the PostgreSQL audit tables', () => {
  it('refuse UPDATE, DELETE and TRUNCATE even from their owner, by trigger', async () => {
    const { schema, log } = await chain();
    await log.append(entry(1));
    await log.close();
    await withAdmin(async (c) => {
      await expect(c.query(`UPDATE "${schema}".audit_entries SET kind = 'x'`)).rejects.toThrow(
        /audit_entries is append-only: UPDATE is refused/,
      );
      await expect(c.query(`DELETE FROM "${schema}".audit_entries`)).rejects.toThrow(/append-only: DELETE is refused/);
      await expect(c.query(`TRUNCATE "${schema}".audit_entries`)).rejects.toThrow(/append-only: TRUNCATE is refused/);
      await expect(c.query(`DELETE FROM "${schema}".audit_checkpoints`)).rejects.toThrow(
        /audit_checkpoints is append-only: DELETE is refused/,
      );
      await expect(c.query(`TRUNCATE "${schema}".audit_checkpoints`)).rejects.toThrow(
        /append-only: TRUNCATE is refused/,
      );
    });
    expect((await verify(schema)).chain).toMatchObject({ ok: true, entries: 1 });
  });

  it('refuse an inserted entry that does not follow the one before it, so the chain cannot fork or gap', async () => {
    const { schema, log } = await chain();
    const first = await log.append(entry(1));
    await log.close();
    const gap = sealEntry({
      schemaVersion: 1,
      seq: 3,
      time: first.time,
      runId: null,
      principal: 'x',
      kind: 'k',
      data: {},
      prevHash: first.hash,
    });
    const fork = sealEntry({
      schemaVersion: 1,
      seq: 2,
      time: first.time,
      runId: null,
      principal: 'x',
      kind: 'k',
      data: {},
      prevHash: '1'.repeat(64),
    });
    await withAdmin(async (c) => {
      const insert = (e: typeof gap) =>
        c.query(
          `INSERT INTO "${schema}".audit_entries (seq, run_id, kind, time, prev_hash, hash, line) VALUES ($1, null, 'k', now(), $2, $3, $4)`,
          [e.entry.seq, e.entry.prevHash, e.entry.hash, e.line],
        );
      await expect(insert(gap)).rejects.toThrow(/seq 3 does not follow an entry 2/);
      await expect(insert(fork)).rejects.toThrow(/seq 2 does not follow an entry 1/);
    });
  });

  it('take appends from a role granted INSERT and SELECT only, which can change nothing stored', async () => {
    const schema = uniqueSchema();
    schemas.push(schema);
    const role = `mlops_audit_app_${randomBytes(4).toString('hex')}`;
    roles.push(role);
    // The owner migrates (here the first open as postgres); then the grants the README gives.
    const owner = await openPostgresAuditLog({ url: PG_URL, schema });
    await owner.append(entry(1));
    await owner.close();
    await withAdmin(async (c) => {
      await c.query(`CREATE ROLE "${role}" LOGIN`);
      await c.query(`GRANT USAGE ON SCHEMA "${schema}" TO "${role}"`);
      await c.query(`GRANT SELECT, INSERT ON "${schema}".audit_entries, "${schema}".audit_checkpoints TO "${role}"`);
      await c.query(`GRANT SELECT ON "${schema}".audit_meta TO "${role}"`);
    });
    const appUrl = PG_URL.replace('postgres@', `${role}@`);
    const app = await openPostgresAuditLog({ url: appUrl, schema });
    logs.push(app);
    expect(await app.append(entry(2))).toMatchObject({ seq: 2 });
    await app.close();
    const client = new pg.Client({ connectionString: appUrl });
    await client.connect();
    try {
      for (const sql of [
        `UPDATE "${schema}".audit_entries SET kind = 'x'`,
        `DELETE FROM "${schema}".audit_entries`,
        `TRUNCATE "${schema}".audit_entries`,
        `DELETE FROM "${schema}".audit_checkpoints`,
      ]) {
        await expect(client.query(sql)).rejects.toThrow(/permission denied/);
      }
    } finally {
      await client.end();
    }
    expect((await verify(schema)).chain).toMatchObject({ ok: true, entries: 2 });
  });

  it('tells a role that may not create the schema to run the migration as its owner', async () => {
    const schema = uniqueSchema();
    schemas.push(schema);
    const role = `mlops_audit_app_${randomBytes(4).toString('hex')}`;
    roles.push(role);
    await withAdmin((c) => c.query(`CREATE ROLE "${role}" LOGIN`));
    const appUrl = PG_URL.replace('postgres@', `${role}@`);
    await expect(openPostgresAuditLog({ url: appUrl, schema })).rejects.toMatchObject({
      code: 'config_invalid',
      message: expect.stringMatching(/is missing and this role may not create it.*mlops-agent audit migrate/),
    });
  });

  it('rejects an append whose connection dies with a retryable error, and the next one goes on the chain', async () => {
    const { schema, log } = await chain();
    await log.append(entry(1));
    // Hold the chain's lock so the next append waits inside the database, then cut it off.
    await withAdmin(async (holder) => {
      await holder.query('BEGIN');
      await holder.query(`SELECT pg_advisory_xact_lock(hashtextextended('mlops-agent audit ${schema}', 0))`);
      const cut = log.append(entry(2));
      // Settled at once, so the rejection is never left unhandled while the test looks for the backend.
      const outcome = cut.then(
        () => null,
        (err: unknown) => err,
      );
      const killed = await withAdmin(async (c) => {
        for (let i = 0; i < 100; i++) {
          const { rows } = await c.query<{ n: number }>(
            `SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE $1`,
            [`%"${schema}".audit_append%`],
          );
          if (rows[0]!.n > 0) return rows[0]!.n;
          await new Promise((r) => setTimeout(r, 20));
        }
        return 0;
      });
      expect(killed).toBe(1);
      const err = await outcome;
      expect(err).toBeInstanceOf(UpstreamError);
      expect(err).toMatchObject({ code: 'audit_failed', retryable: true });
      await holder.query('ROLLBACK');
    });
    expect(await log.append(entry(3))).toMatchObject({ seq: 2 });
    expect((await verify(schema)).chain).toMatchObject({ ok: true, entries: 2 });
  });

  it('says which database could not be reached, without its password', async () => {
    const schema = uniqueSchema();
    await expect(
      openPostgresAuditLog({ url: 'postgres://app:s3cret@127.0.0.1:1/audit', schema }),
    ).rejects.toMatchObject({
      code: 'audit_failed',
      retryable: true,
      message: expect.stringContaining('postgres://app@127.0.0.1:1/audit (schema'),
    });
    await expect(openPostgresAuditLog({ url: 'postgres://app:s3cret@127.0.0.1:1/audit', schema })).rejects.not.toThrow(
      /s3cret/,
    );
  });
});

const child = fileURLToPath(new URL('./append-to-postgres.ts', import.meta.url));

function runWriter(schema: string, writer: number, count: number): Promise<number[]> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, ['--import', 'tsx', child, PG_URL, schema, String(writer), String(count)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
    proc.stderr.on('data', (d: Buffer) => (err += d.toString()));
    proc.on('error', reject);
    proc.on('exit', (code) =>
      code === 0
        ? resolve(out.trim().split('\n').map(Number))
        : reject(new Error(`writer ${writer} exited ${code}: ${err}`)),
    );
  });
}

describe('several worker processes appending to one PostgreSQL chain at once', () => {
  it('make one chain, without gaps or forks, holding every entry each process was told was written', async () => {
    const schema = uniqueSchema();
    schemas.push(schema);
    const results = await Promise.all([0, 1, 2, 3].map((w) => runWriter(schema, w, 150)));
    const seqs = results.flat().sort((a, b) => a - b);
    expect(seqs).toEqual(Array.from({ length: 600 }, (_, i) => i + 1));
    const report = await verify(schema);
    expect(report.chain).toMatchObject({ ok: true, entries: 600 });
    expect(report.ok).toBe(true);
    // Each process checkpointed at shutdown; every checkpoint agrees with the one chain.
    expect(report.checkpoints.filter((c) => c.checkpoint.reason === 'shutdown')).toHaveLength(4);
    const reader = openPostgresAuditReader({ url: PG_URL, schema });
    try {
      const runs = new Set((await reader.tail({})).map((e) => e.runId));
      expect(runs).toEqual(new Set(['worker-0', 'worker-1', 'worker-2', 'worker-3']));
    } finally {
      await reader.close();
    }
  });
});

describe('several processes opening one new PostgreSQL chain at once', () => {
  // Seen in CI: a process whose migration transaction began before another's committed
  // still saw the schema as missing, ran the DDL again and deadlocked with the appends.
  it('migrate it once between them and append without a deadlock, round after round', async () => {
    for (let round = 0; round < 5; round++) {
      const schema = uniqueSchema();
      schemas.push(schema);
      const opened = await Promise.all(
        Array.from({ length: 6 }, async (_, i) => {
          const log = await openPostgresAuditLog({ url: PG_URL, schema });
          logs.push(log);
          await Promise.all([log.append(entry(i)), log.append(entry(i + 100))]);
          return log;
        }),
      );
      expect(opened).toHaveLength(6);
      expect((await verify(schema)).chain).toMatchObject({ ok: true, entries: 12 });
    }
  });
});

describe('mlops-agent audit migrate', () => {
  it('creates the schema once, then says it is current', async () => {
    const schema = uniqueSchema();
    schemas.push(schema);
    const { auditCommand } = await import('../../../src/cli/audit-command.js');
    const run = async () => {
      let out = '';
      const command = auditCommand(() => ({
        auditFile: '/nonexistent/audit.jsonl',
        auditStore: 'postgres' as const,
        databaseUrl: PG_URL,
        audit: { postgresSchema: schema, publicKeyFiles: [], checkpoint: { everyEntries: 1000, everyMs: 60_000 } },
      }));
      command.configureOutput({ writeOut: (t) => (out += t) });
      await command.parseAsync(['migrate'], { from: 'user' });
      return out;
    };
    expect(await run()).toBe(
      `created or upgraded: the audit schema in postgres://postgres@127.0.0.1:5432/postgres (schema ${schema})\n`,
    );
    expect(await run()).toBe(
      `already current: the audit schema in postgres://postgres@127.0.0.1:5432/postgres (schema ${schema})\n`,
    );
    const tables = await withAdmin(async (c) =>
      (
        await c.query<{ table_name: string }>(
          `SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1`,
          [schema],
        )
      ).rows.map((r) => r.table_name),
    );
    expect(tables).toEqual(['audit_checkpoints', 'audit_entries', 'audit_meta']);
  });
});
