// The local PostgreSQL (127.0.0.1:5432, trust auth) for integration tests: unique schemas
// per test, dropped afterwards, and an owner's connection for what an attacker could do.
import { randomBytes } from 'node:crypto';
import pg from 'pg';

export const PG_URL = 'postgres://postgres@127.0.0.1:5432/postgres';

export function uniqueSchema(what = 'audit'): string {
  return `${what}_test_${randomBytes(5).toString('hex')}`;
}

export async function withAdmin<T>(use: (client: pg.Client) => Promise<T>, url = PG_URL): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await use(client);
  } finally {
    await client.end();
  }
}

export async function dropSchema(schema: string): Promise<void> {
  await withAdmin((c) => c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`));
}

/** As the tables' owner with the append-only triggers switched off: what the database can stop, and checkpoints must catch. */
export async function bypassingTriggers(schema: string, use: (client: pg.Client) => Promise<void>): Promise<void> {
  await withAdmin(async (c) => {
    await c.query('BEGIN');
    await c.query(`ALTER TABLE "${schema}".audit_entries DISABLE TRIGGER USER`);
    await c.query(`ALTER TABLE "${schema}".audit_checkpoints DISABLE TRIGGER USER`);
    await use(c);
    await c.query(`ALTER TABLE "${schema}".audit_entries ENABLE TRIGGER USER`);
    await c.query(`ALTER TABLE "${schema}".audit_checkpoints ENABLE TRIGGER USER`);
    await c.query('COMMIT');
  });
}
