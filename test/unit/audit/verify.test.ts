import { appendFileSync, copyFileSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { UserError } from '../../../src/errors.js';
import { hashEntry, openFileAuditLog, verifyAuditFile, type AuditEntry } from '../../../src/audit/index.js';
import { useTempDir } from './temp-dir.js';
import { readLines, writeLines, writeLog } from './write-log.js';

const tempDir = useTempDir();

async function logOfFive(): Promise<{ file: string; entries: AuditEntry[] }> {
  const file = join(tempDir(), 'audit.jsonl');
  return { file, entries: await writeLog(file, 5) };
}

describe('verifyAuditFile', () => {
  it('reports an intact log with its entry count and last hash', async () => {
    const { file, entries } = await logOfFive();
    expect(await verifyAuditFile(file)).toEqual({ ok: true, entries: 5, lastHash: entries[4]!.hash });
  });

  it('reports an empty file as an intact log of zero entries', async () => {
    const file = join(tempDir(), 'audit.jsonl');
    writeFileSync(file, '');
    expect(await verifyAuditFile(file)).toEqual({ ok: true, entries: 0, lastHash: '0'.repeat(64) });
  });

  it('catches an edited entry at its own seq', async () => {
    const { file } = await logOfFive();
    const lines = readLines(file);
    lines[2] = lines[2]!.replace('"step":3', '"step":30');
    writeLines(file, lines);
    expect(await verifyAuditFile(file)).toEqual({
      ok: false,
      entries: 2,
      firstBadSeq: 3,
      line: 3,
      kind: 'hash_mismatch',
      problem: expect.stringMatching(/hash does not match its contents: the entry was edited/),
    });
  });

  it('catches an edit whose hash was recomputed at the next entry, through prevHash', async () => {
    const { file } = await logOfFive();
    const lines = readLines(file);
    const edited = JSON.parse(lines[2]!) as AuditEntry;
    edited.data = { step: 300 };
    const { hash: _old, ...rest } = edited;
    lines[2] = JSON.stringify({ ...rest, hash: hashEntry(rest) });
    writeLines(file, lines);
    expect(await verifyAuditFile(file)).toMatchObject({
      ok: false,
      entries: 3,
      firstBadSeq: 4,
      line: 4,
      kind: 'prev_hash_mismatch',
    });
  });

  it('catches a deleted entry where the gap opens', async () => {
    const { file } = await logOfFive();
    const lines = readLines(file);
    lines.splice(1, 1);
    writeLines(file, lines);
    expect(await verifyAuditFile(file)).toMatchObject({
      ok: false,
      entries: 1,
      firstBadSeq: 2,
      line: 2,
      kind: 'seq_gap',
      problem: expect.stringContaining('expected seq 2 but found seq 3'),
    });
  });

  it('catches a deletion that renumbered the following entries, through prevHash', async () => {
    const { file } = await logOfFive();
    const lines = readLines(file).map((l) => JSON.parse(l) as AuditEntry);
    lines.splice(2, 1);
    for (const entry of lines.slice(2)) entry.seq -= 1;
    writeLines(
      file,
      lines.map((e) => JSON.stringify(e)),
    );
    expect(await verifyAuditFile(file)).toMatchObject({
      ok: false,
      firstBadSeq: 3,
      line: 3,
      kind: 'prev_hash_mismatch',
    });
  });

  it('catches two entries swapped at the first of them', async () => {
    const { file } = await logOfFive();
    const lines = readLines(file);
    [lines[3], lines[4]] = [lines[4]!, lines[3]!];
    writeLines(file, lines);
    expect(await verifyAuditFile(file)).toMatchObject({
      ok: false,
      entries: 3,
      firstBadSeq: 4,
      line: 4,
      kind: 'seq_gap',
    });
  });

  it('catches a file truncated mid-line', async () => {
    const { file } = await logOfFive();
    const size = readFileSync(file).length;
    truncateSync(file, size - 40);
    expect(await verifyAuditFile(file)).toMatchObject({
      ok: false,
      entries: 4,
      firstBadSeq: 5,
      line: 5,
      kind: 'truncated',
      problem: expect.stringContaining('no trailing newline'),
    });
  });

  it('catches an unparseable line in the middle', async () => {
    const { file } = await logOfFive();
    const lines = readLines(file);
    lines[1] = '{"schemaVersion":1,"seq":2,';
    writeLines(file, lines);
    expect(await verifyAuditFile(file)).toMatchObject({
      ok: false,
      entries: 1,
      firstBadSeq: 2,
      line: 2,
      kind: 'unparseable',
    });
  });

  it('refuses a schemaVersion it does not know, naming it', async () => {
    const { file } = await logOfFive();
    const lines = readLines(file);
    lines.push(lines[4]!.replace('"schemaVersion":1', '"schemaVersion":2'));
    writeLines(file, lines);
    expect(await verifyAuditFile(file)).toMatchObject({
      ok: false,
      firstBadSeq: 6,
      kind: 'unsupported_schema',
      problem: expect.stringContaining('unsupported schemaVersion 2'),
    });
  });

  it('catches a field added to an entry even when its value is harmless', async () => {
    const { file } = await logOfFive();
    const lines = readLines(file);
    lines[0] = lines[0]!.replace('{"schemaVersion":1,', '{"schemaVersion":1,"approvedBy":"mallory",');
    writeLines(file, lines);
    expect(await verifyAuditFile(file)).toMatchObject({
      ok: false,
      firstBadSeq: 1,
      kind: 'invalid_entry',
      problem: expect.stringContaining('"approvedBy"'),
    });
  });

  it('verifies a log larger than its 1 MiB read chunk', async () => {
    const file = join(tempDir(), 'audit.jsonl');
    const big = 'x'.repeat(3000);
    const log = await openFileAuditLog({ file });
    const pending = Array.from({ length: 800 }, (_, i) =>
      log.append({ runId: null, principal: 'p', kind: 'k', data: { i, big } }),
    );
    const entries = await Promise.all(pending);
    await log.close();
    expect(readFileSync(file).length).toBeGreaterThan(2 << 20);
    expect(await verifyAuditFile(file)).toEqual({ ok: true, entries: 800, lastHash: entries[799]!.hash });
    appendFileSync(file, 'garbage\n');
    expect(await verifyAuditFile(file)).toMatchObject({ ok: false, firstBadSeq: 801, line: 801 });
  });

  it('says how to fix a missing file', async () => {
    const missing = join(tempDir(), 'nope.jsonl');
    const attempt = verifyAuditFile(missing);
    await expect(attempt).rejects.toBeInstanceOf(UserError);
    await expect(attempt).rejects.toThrow(/does not exist.*--file/);
  });
});

describe('the committed schemaVersion 1 fixture', () => {
  const fixture = new URL('../../fixtures/audit/v1.jsonl', import.meta.url).pathname;

  it('keeps verifying, with the same last hash', async () => {
    expect(await verifyAuditFile(fixture)).toEqual({
      ok: true,
      entries: 6,
      lastHash: 'f9f87a5d5c47a3d832c930ec1b80ddd14b20e298dda37a8a94442318c6875167',
    });
  });

  it('still opens for appending and extends the chain', async () => {
    const file = join(tempDir(), 'audit.jsonl');
    copyFileSync(fixture, file);
    const log = await openFileAuditLog({ file });
    const next = await log.append({ runId: null, principal: 'ops', kind: 'run.started', data: {} });
    await log.close();
    expect(next.seq).toBe(7);
    expect(next.prevHash).toBe('f9f87a5d5c47a3d832c930ec1b80ddd14b20e298dda37a8a94442318c6875167');
    expect(await verifyAuditFile(file)).toMatchObject({ ok: true, entries: 7 });
  });
});
