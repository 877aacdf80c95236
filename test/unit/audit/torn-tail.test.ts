import { appendFileSync, readFileSync, readdirSync, truncateSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { UserError } from '../../../src/errors.js';
import { openFileAuditLog, verifyAuditFile } from '../../../src/audit/index.js';
import { manualClock } from '../../support/manual-clock.js';
import { useTempDir } from './temp-dir.js';
import { readLines, writeLines, writeLog } from './write-log.js';

const tempDir = useTempDir();

function capturingLogger(): { logger: pino.Logger; records: Record<string, unknown>[] } {
  const records: Record<string, unknown>[] = [];
  const logger = pino(
    { level: 'warn' },
    { write: (line: string) => records.push(JSON.parse(line) as Record<string, unknown>) },
  );
  return { logger, records };
}

describe('opening a log whose last write was torn by a crash', () => {
  it('saves the torn bytes beside the log, cuts back to the last whole entry and records it in the chain', async () => {
    const dir = tempDir();
    const file = join(dir, 'audit.jsonl');
    const entries = await writeLog(file, 3);
    // What a crash mid-write leaves: the first part of the next line, no newline.
    const torn = '{"schemaVersion":1,"seq":4,"time":"2026-01-01T00:0';
    appendFileSync(file, torn);
    const { logger, records } = capturingLogger();

    const log = await openFileAuditLog({ file, clock: manualClock(Date.parse('2026-02-01T12:00:00Z')), logger });
    const sha256 = createHash('sha256').update(torn).digest('hex');
    const savedTo = join(dir, 'audit.jsonl.torn-4-2026-02-01T12-00-00-000Z');
    expect(log.recovered).toEqual({
      bytes: torn.length,
      sha256,
      savedTo,
      problem: expect.stringContaining('no trailing newline'),
      recordedAtSeq: 4,
    });
    expect(readFileSync(savedTo, 'utf8')).toBe(torn);
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({ level: 40, auditFile: file, bytes: torn.length, sha256, savedTo });

    const next = await log.append({ runId: 'r', principal: 'p', kind: 'run.started', data: {} });
    await log.close();
    const lines = readLines(file).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toHaveLength(5);
    expect(lines[3]).toMatchObject({
      seq: 4,
      kind: 'audit.torn_tail_set_aside',
      runId: null,
      principal: 'mlops-agent',
      prevHash: entries[2]!.hash,
      data: { bytes: torn.length, sha256, savedTo, line: 4 },
    });
    expect(next.seq).toBe(5);
    expect(await verifyAuditFile(file)).toMatchObject({ ok: true, entries: 5, lastHash: next.hash });
  });

  it('treats an unparseable last line that does end in a newline as torn too', async () => {
    const dir = tempDir();
    const file = join(dir, 'audit.jsonl');
    await writeLog(file, 2);
    appendFileSync(file, '\0\0\0\0\0\0\n');
    const log = await openFileAuditLog({ file, clock: manualClock() });
    expect(log.recovered).toMatchObject({
      bytes: 7,
      problem: expect.stringContaining('not valid JSON'),
      recordedAtSeq: 3,
    });
    await log.close();
    expect(await verifyAuditFile(file)).toMatchObject({ ok: true, entries: 3 });
  });

  it('sets aside a torn first line of a new log and starts from genesis', async () => {
    const dir = tempDir();
    const file = join(dir, 'audit.jsonl');
    writeFileSync(file, '{"schemaVer');
    const log = await openFileAuditLog({ file, clock: manualClock() });
    expect(log.recovered).toMatchObject({ bytes: 11, recordedAtSeq: 1 });
    expect(log.lastSeq()).toBe(1);
    await log.close();
    expect(await verifyAuditFile(file)).toMatchObject({ ok: true, entries: 1 });
  });

  it('keeps an earlier saved tail when a second crash happens at the same seq and instant', async () => {
    const dir = tempDir();
    const file = join(dir, 'audit.jsonl');
    await writeLog(file, 1);
    const size = readFileSync(file).length;
    const checkpoints = readFileSync(`${file}.checkpoints`);
    for (const torn of ['{"a', '{"b']) {
      appendFileSync(file, torn);
      const log = await openFileAuditLog({ file, clock: manualClock() });
      await log.close();
      // Undo the recovery entry (and the checkpoints that cover it) to recreate the same situation.
      truncateSync(file, size);
      writeFileSync(`${file}.checkpoints`, checkpoints);
    }
    const saved = readdirSync(dir)
      .filter((name) => name.includes('.torn-'))
      .sort();
    expect(saved).toHaveLength(2);
    expect(saved.map((name) => readFileSync(join(dir, name), 'utf8')).sort()).toEqual(['{"a', '{"b']);
  });
});

describe('opening a log that was tampered with', () => {
  it('refuses with audit_corrupt, naming the first bad seq and the verify command', async () => {
    const file = join(tempDir(), 'audit.jsonl');
    await writeLog(file, 5);
    const lines = readLines(file);
    lines[1] = lines[1]!.replace('"principal":"alice"', '"principal":"mallory"');
    writeLines(file, lines);
    const before = readFileSync(file);

    const attempt = openFileAuditLog({ file });
    await expect(attempt).rejects.toBeInstanceOf(UserError);
    await expect(attempt).rejects.toMatchObject({ code: 'audit_corrupt' });
    await expect(attempt).rejects.toThrow(/breaks at seq 2 \(line 2\).*edited.*mlops-agent audit verify/);
    // Evidence stays untouched.
    expect(readFileSync(file).equals(before)).toBe(true);
  });

  it('refuses a last line that parses but does not chain, rather than setting it aside', async () => {
    const file = join(tempDir(), 'audit.jsonl');
    await writeLog(file, 3);
    const lines = readLines(file);
    lines[2] = lines[2]!.replace('"step":3', '"step":4');
    writeLines(file, lines);
    await expect(openFileAuditLog({ file })).rejects.toMatchObject({
      code: 'audit_corrupt',
      message: expect.stringContaining('seq 3'),
    });
  });

  it('refuses a torn line that is not the last one', async () => {
    const file = join(tempDir(), 'audit.jsonl');
    await writeLog(file, 3);
    const lines = readLines(file);
    lines[1] = lines[1]!.slice(0, 30);
    writeLines(file, lines);
    await expect(openFileAuditLog({ file })).rejects.toMatchObject({
      code: 'audit_corrupt',
      message: expect.stringContaining('seq 2 (line 2)'),
    });
  });
});
