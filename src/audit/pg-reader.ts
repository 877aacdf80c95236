// Reading a PostgreSQL audit chain: for verify, tail and evidence export. Needs SELECT only.
import { UserError } from '../errors.js';
import type { Logger } from '../logger.js';
import { silentLogger } from '../logger.js';
import { parseCheckpoint } from './checkpoint-record.js';
import { describePostgres, openPool, pgError } from './pg-connection.js';
import { checkSchemaName } from './pg-schema.js';
import type { CheckpointList } from './checkpoint-file.js';
import type { AuditReader } from './reader.js';
import type { AuditEntry } from './types.js';

const PAGE = 5000;

export function openPostgresAuditReader(options: { url: string; schema?: string; logger?: Logger }): AuditReader {
  const schema = checkSchemaName(options.schema ?? 'mlops_audit');
  const location = describePostgres(options.url, schema);
  const pool = openPool(options.url, options.logger ?? silentLogger, 2);
  const s = `"${schema}"`;
  const query = async <R extends object>(doing: string, sql: string, params: unknown[] = []): Promise<R[]> => {
    try {
      return (await pool.query<R>(sql, params)).rows;
    } catch (err) {
      if ((err as { code?: string }).code === '42P01') {
        throw new UserError(
          `there is no audit chain in ${location}: nothing was recorded there yet, or DATABASE_URL / audit.postgresSchema point elsewhere`,
          { code: 'not_found', cause: err },
        );
      }
      throw pgError(location, doing, err);
    }
  };
  return {
    store: 'postgres',
    location,
    async scan(onLine) {
      // Pages by seq: a long chain is read with bounded memory, beside appends going on.
      let after = 0;
      let number = 0;
      for (;;) {
        const rows = await query<{ seq: string; line: string }>(
          'reading the audit chain',
          `SELECT seq, line FROM ${s}.audit_entries WHERE seq > $1 ORDER BY seq LIMIT ${PAGE}`,
          [after],
        );
        for (const row of rows) {
          number++;
          if (!onLine({ text: row.line, terminated: true, number })) return;
        }
        if (rows.length < PAGE) return;
        after = Number(rows[rows.length - 1]!.seq);
      }
    },
    async checkpoints() {
      const rows = await query<{ line: string }>(
        'reading the audit checkpoints',
        `SELECT line FROM ${s}.audit_checkpoints ORDER BY recorded_at, seq`,
      );
      const list: CheckpointList = { checkpoints: [], problems: [] };
      rows.forEach((row, i) => {
        const parsed = parseCheckpoint(row.line);
        if ('checkpoint' in parsed) list.checkpoints.push(parsed.checkpoint);
        else list.problems.push({ line: i + 1, problem: parsed.problem });
      });
      return list;
    },
    async runRange(runId) {
      const rows = await query<{ first: string | null; last: string | null }>(
        'finding a run in the audit chain',
        `SELECT min(seq) AS first, max(seq) AS last FROM ${s}.audit_entries WHERE run_id = $1`,
        [runId],
      );
      const row = rows[0];
      return row?.first ? { first: Number(row.first), last: Number(row.last) } : null;
    },
    async lines(from, to) {
      const rows = await query<{ line: string }>(
        'reading the audit chain',
        `SELECT line FROM ${s}.audit_entries WHERE seq BETWEEN $1 AND $2 ORDER BY seq`,
        [from, to],
      );
      return rows.map((r) => r.line);
    },
    async tail({ tail, runId }) {
      if (tail !== undefined && (!Number.isSafeInteger(tail) || tail < 1)) {
        throw new UserError(`tail must be a positive whole number of entries, got ${String(tail)}`, {
          code: 'input_invalid',
        });
      }
      // LIMIT NULL is no limit.
      const rows =
        runId === undefined
          ? await query<{ line: string }>(
              'reading the audit chain',
              `SELECT line FROM ${s}.audit_entries ORDER BY seq DESC LIMIT $1`,
              [tail ?? null],
            )
          : await query<{ line: string }>(
              'reading the audit chain',
              `SELECT line FROM ${s}.audit_entries WHERE run_id = $1 ORDER BY seq DESC LIMIT $2`,
              [runId, tail ?? null],
            );
      return rows.reverse().map((r) => JSON.parse(r.line) as AuditEntry);
    },
    close: () => pool.end(),
  };
}
