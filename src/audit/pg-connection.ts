// Connections to the PostgreSQL that holds an audit chain, and errors said plainly.
import pg from 'pg';
import { UpstreamError, describeError } from '../errors.js';
import type { Logger } from '../logger.js';

/** The database and schema, for messages: user, host, port and database; never the password. */
export function describePostgres(url: string, schema: string): string {
  try {
    const u = new URL(url);
    return `postgres://${u.username ? `${decodeURIComponent(u.username)}@` : ''}${u.host}${u.pathname} (schema ${schema})`;
  } catch {
    return `(unparseable DATABASE_URL) (schema ${schema})`;
  }
}

export function openPool(url: string, logger: Logger, max = 4): pg.Pool {
  const pool = new pg.Pool({
    connectionString: url,
    max,
    application_name: 'mlops-agent audit',
    connectionTimeoutMillis: 10_000,
    // Appends are durable only once a synchronous commit covers them, whatever the server's default.
    options: '-c synchronous_commit=on',
  });
  // An idle connection that drops emits here; unhandled, it would end the process.
  pool.on('error', (err) =>
    logger.warn({ err: describeError(err) }, 'an idle PostgreSQL audit connection failed; the pool opens another'),
  );
  return pool;
}

const CONNECTION_CODES = /^(08|57P0|53)/;

/** Whether trying again later can help: the server or the network failed, not the request. */
export function isTransient(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  if (
    typeof code === 'string' &&
    (CONNECTION_CODES.test(code) ||
      ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN'].includes(code))
  )
    return true;
  return /Connection terminated|connection timeout|timeout exceeded when trying to connect/i.test(describeError(err));
}

export function pgError(where: string, doing: string, err: unknown): UpstreamError {
  const retryable = isTransient(err);
  return new UpstreamError(
    'audit',
    `${doing} in ${where} failed: ${describeError(err)}${retryable ? ' (PostgreSQL unreachable; retry once it is back)' : ''}`,
    {
      retryable,
      code: 'audit_failed',
      cause: err,
    },
  );
}
