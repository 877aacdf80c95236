// Both audit stores through one contract: a JSONL file with its checkpoints file, and
// PostgreSQL (a schema of its own per test on the local server, dropped afterwards).
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  openFileAuditLog,
  openFileAuditReader,
  openPostgresAuditLog,
  openPostgresAuditReader,
} from '../../../src/audit/index.js';
import { auditLogContract } from '../../contract/audit-log.contract.js';
import { bypassingTriggers, dropSchema, PG_URL, uniqueSchema, withAdmin } from '../../support/postgres.js';

function fileLines(file: string): string[] {
  return readFileSync(file, 'utf8').split('\n').slice(0, -1);
}

auditLogContract('file', {
  writers: 1,
  async create() {
    const dir = mkdtempSync(join(tmpdir(), 'mlops-audit-file-'));
    const file = join(dir, 'audit.jsonl');
    return {
      open: (options = {}) => openFileAuditLog({ file, ...options }),
      reader: () => openFileAuditReader(file),
      async replaceFrom(seq, lines) {
        const kept = fileLines(file).slice(0, seq - 1);
        writeFileSync(file, [...kept, ...lines].map((l) => `${l}\n`).join(''));
      },
      checkpointLines: async () => fileLines(`${file}.checkpoints`),
      async replaceCheckpointLines(lines) {
        writeFileSync(`${file}.checkpoints`, lines.map((l) => `${l}\n`).join(''));
      },
      async crashMidWrite(log, inFlight) {
        // What a crash leaves: whatever resolved is on disk, then part of the next line.
        await Promise.allSettled(inFlight);
        await log.close();
        appendFileSync(file, '{"schemaVersion":1,"seq":51,"time":"2026-01-');
        // The writer died before its shutdown checkpoint: drop it, as a crash would.
        const checkpoints = fileLines(`${file}.checkpoints`);
        writeFileSync(
          `${file}.checkpoints`,
          checkpoints
            .slice(0, -1)
            .map((l) => `${l}\n`)
            .join(''),
        );
      },
      async destroy() {
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
});

auditLogContract('postgres', {
  writers: 3,
  async create() {
    const schema = uniqueSchema();
    return {
      open: (options = {}) => openPostgresAuditLog({ url: PG_URL, schema, ...options }),
      reader: () => openPostgresAuditReader({ url: PG_URL, schema }),
      async replaceFrom(seq, lines) {
        await bypassingTriggers(schema, async (c) => {
          await c.query(`DELETE FROM "${schema}".audit_entries WHERE seq >= $1`, [seq]);
          for (const line of lines) {
            const e = JSON.parse(line) as {
              seq: number;
              runId: string | null;
              kind: string;
              time: string;
              prevHash: string;
              hash: string;
            };
            await c.query(
              `INSERT INTO "${schema}".audit_entries (seq, run_id, kind, time, prev_hash, hash, line) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
              [e.seq, e.runId, e.kind, e.time, e.prevHash, e.hash, line],
            );
          }
        });
      },
      checkpointLines: () =>
        withAdmin(async (c) =>
          (
            await c.query<{ line: string }>(`SELECT line FROM "${schema}".audit_checkpoints ORDER BY recorded_at, seq`)
          ).rows.map((r) => r.line),
        ),
      async replaceCheckpointLines(lines) {
        await bypassingTriggers(schema, async (c) => {
          await c.query(`DELETE FROM "${schema}".audit_checkpoints`);
          for (const line of lines)
            await c.query(`INSERT INTO "${schema}".audit_checkpoints (seq, line) VALUES ($1, $2)`, [
              (JSON.parse(line) as { seq: number }).seq,
              line,
            ]);
        });
      },
      async crashMidWrite() {
        // The appending connections die mid-batch (a lost server or network).
        await withAdmin((c) =>
          c.query(
            `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND query LIKE $1`,
            [`%"${schema}".%`],
          ),
        );
      },
      destroy: () => dropSchema(schema),
    };
  },
});
