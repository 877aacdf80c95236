// The file log's checkpoints: opening resumes at the last one, what contradicts them is
// refused at open and reported by verify, and they reach a witness.
import { appendFileSync, chmodSync, copyFileSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  generateSigningKeyPair,
  keyRing,
  loadSigningKey,
  openFileAuditLog,
  sealEntry,
  verifyFileLog,
  type AuditEntry,
  type Checkpoint,
  type CheckpointSigner,
} from '../../../src/audit/index.js';
import { useTempDir } from './temp-dir.js';
import { readLines, writeLines } from './write-log.js';

const tempDir = useTempDir();

function signer(dir: string): CheckpointSigner {
  const file = join(dir, 'signing.key');
  writeFileSync(file, generateSigningKeyPair().privatePem);
  chmodSync(file, 0o600);
  return loadSigningKey(file);
}

const step = (i: number) => ({ runId: 'run-1', principal: 'alice', kind: 'planner.turn', data: { step: i } });

async function logWith(
  count: number,
  options: { everyEntries?: number } = {},
): Promise<{ dir: string; file: string; key: CheckpointSigner; entries: AuditEntry[] }> {
  const dir = tempDir();
  const file = join(dir, 'audit.jsonl');
  const key = signer(dir);
  const log = await openFileAuditLog({
    file,
    checkpoints: { signer: key, everyEntries: options.everyEntries ?? 1000, everyMs: 0 },
  });
  const entries: AuditEntry[] = [];
  for (let i = 1; i <= count; i++) entries.push(await log.append(step(i)));
  await log.close();
  return { dir, file, key, entries };
}

const checkpointsOf = (file: string): Checkpoint[] =>
  readLines(`${file}.checkpoints`).map((l) => JSON.parse(l) as Checkpoint);

describe('opening a file log with checkpoints', () => {
  it('resumes at the last checkpoint: an entry edited before it is left to audit verify, which finds it', async () => {
    const { file, key } = await logWith(6, { everyEntries: 4 });
    const lines = readLines(file);
    // Same length, so the checkpoint still points at its entry's end.
    lines[1] = lines[1]!.replace('"step":2', '"step":9');
    writeLines(file, lines);
    const log = await openFileAuditLog({ file, checkpoints: { signer: key, everyMs: 0 } });
    expect(log.lastSeq()).toBe(6);
    await log.close();
    const report = await verifyFileLog(file, { keys: keyRing([key.publicKey]) });
    expect(report.chain).toMatchObject({ ok: false, firstBadSeq: 2, kind: 'hash_mismatch' });
    expect(report.ok).toBe(false);
  });

  it('checks the entries written after the last checkpoint, and refuses an edited one', async () => {
    const { file, key } = await logWith(3);
    // Entries after the shutdown checkpoint written by something else, then one of them edited.
    const lines = readLines(file);
    const last = JSON.parse(lines[2]!) as AuditEntry;
    const next = sealEntry({
      schemaVersion: 1,
      seq: 4,
      time: last.time,
      runId: null,
      principal: 'x',
      kind: 'k',
      data: {},
      prevHash: last.hash,
    });
    writeLines(file, [...lines, next.line.replace('"principal":"x"', '"principal":"y"')]);
    await expect(openFileAuditLog({ file, checkpoints: { signer: key } })).rejects.toMatchObject({
      code: 'audit_corrupt',
      message: expect.stringContaining('seq 4'),
    });
  });

  it('refuses entries appended after the writer closed the log, naming its shutdown checkpoint; verify reports them too', async () => {
    const { file, key, entries } = await logWith(3);
    const forged = sealEntry({
      schemaVersion: 1,
      seq: 4,
      time: entries[2]!.time,
      runId: 'run-1',
      principal: 'user:mallory',
      kind: 'approval.granted',
      data: {},
      prevHash: entries[2]!.hash,
    });
    appendFileSync(file, `${forged.line}\n`);
    await expect(openFileAuditLog({ file, checkpoints: { signer: key } })).rejects.toMatchObject({
      code: 'audit_corrupt',
      message: expect.stringMatching(
        /entries 4 to 4 were appended after the log was closed by the last checkpoint \(shutdown, signed by key [0-9a-f]{16}.*\) at seq 3: no mlops-agent process wrote them/,
      ),
    });
    const report = await verifyFileLog(file, { keys: keyRing([key.publicKey]) });
    expect(report.chain.ok).toBe(true);
    expect(report.ok).toBe(false);
    expect(report.checkpoints.at(-1)).toMatchObject({
      verdict: 'appended_after_shutdown',
      detail: expect.stringContaining('entries 4 to 4 were appended after this checkpoint closed the log'),
    });
  });

  it('refuses a log cut below its last checkpoint, saying entries were removed', async () => {
    const { file, key } = await logWith(5);
    const lines = readLines(file);
    writeLines(file, lines.slice(0, 3));
    await expect(openFileAuditLog({ file, checkpoints: { signer: key } })).rejects.toMatchObject({
      code: 'audit_corrupt',
      message: expect.stringContaining('the chain ends at seq 3, but the last checkpoint (shutdown'),
    });
  });

  it('refuses a checkpoint edited without the key', async () => {
    const { file, key } = await logWith(3);
    const [cp] = checkpointsOf(file);
    writeFileSync(`${file}.checkpoints`, `${JSON.stringify({ ...cp, time: '2020-01-01T00:00:00.000Z' })}\n`);
    await expect(openFileAuditLog({ file, checkpoints: { signer: key } })).rejects.toMatchObject({
      code: 'audit_corrupt',
      message: expect.stringContaining('does not verify with the signing key'),
    });
  });

  it('writes an open checkpoint at the head it found, and notes entries a crash left uncovered as adopted', async () => {
    const { file, key } = await logWith(2);
    // A writer that crashed: entries appended, no shutdown checkpoint.
    const crashed = await openFileAuditLog({ file, checkpoints: { signer: key, everyMs: 0 } });
    await crashed.append(step(3));
    await crashed.append(step(4));
    const cps = readLines(`${file}.checkpoints`);
    await crashed.close();
    writeFileSync(`${file}.checkpoints`, cps.map((l) => `${l}\n`).join(''));
    const reopened = await openFileAuditLog({ file, checkpoints: { signer: key, everyMs: 0 } });
    await reopened.close();
    expect(checkpointsOf(file).map((c) => `${c.reason}@${c.seq}`)).toEqual([
      'shutdown@2',
      'open@2',
      'open@4',
      'shutdown@4',
    ]);
    const report = await verifyFileLog(file, { keys: keyRing([key.publicKey]) });
    expect(report.ok).toBe(true);
    expect(report.adoptedAfterCrash).toEqual([expect.objectContaining({ from: 3, to: 4 })]);
    expect(report.provenThrough).toBe(4);
  });

  it('cuts off a torn last checkpoint line left by a crash', async () => {
    const { file, key } = await logWith(2);
    appendFileSync(`${file}.checkpoints`, '{"schemaVersion":1,"kind":"audit.chec');
    const log = await openFileAuditLog({ file, checkpoints: { signer: key } });
    await log.close();
    expect(readLines(`${file}.checkpoints`).every((l) => JSON.parse(l) !== null)).toBe(true);
    expect((await verifyFileLog(file, { keys: keyRing([key.publicKey]) })).ok).toBe(true);
  });

  it('keeps its checkpoints file private to the owner', async () => {
    const { file } = await logWith(1);
    expect(statSync(`${file}.checkpoints`).mode & 0o777).toBe(0o600);
  });

  it('opens and extends a log written before checkpoints existed (schema version 1 fixture)', async () => {
    const dir = tempDir();
    const file = join(dir, 'audit.jsonl');
    copyFileSync(new URL('../../fixtures/audit/v1.jsonl', import.meta.url), file);
    const log = await openFileAuditLog({ file });
    expect(log.lastSeq()).toBe(6);
    const next = await log.append(step(7));
    await log.close();
    expect(next.prevHash).toBe((JSON.parse(readLines(file)[5]!) as AuditEntry).hash);
    const report = await verifyFileLog(file, { keys: keyRing([]) });
    expect(report.chain).toMatchObject({ ok: true, entries: 7 });
    expect(report.ok).toBe(true);
  });
});

describe('checkpoints on time and to a witness', () => {
  it('writes a periodic checkpoint on its timer when there are new entries', async () => {
    const dir = tempDir();
    const file = join(dir, 'audit.jsonl');
    const log = await openFileAuditLog({ file, checkpoints: { signer: null, everyEntries: 1000, everyMs: 20 } });
    await log.append(step(1));
    for (let i = 0; i < 500 && !readFileSync(`${file}.checkpoints`, 'utf8').includes('"periodic"'); i++)
      await new Promise((r) => setTimeout(r, 10));
    await log.close();
    const periodic = checkpointsOf(file).filter((c) => c.reason === 'periodic');
    // One for the new entry; the timer writes no more while nothing new is appended.
    expect(periodic.map((c) => c.seq)).toEqual([1]);
  });

  it('posts each checkpoint to the witness URL as JSON', async () => {
    const received: Checkpoint[] = [];
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        received.push(JSON.parse(body) as Checkpoint);
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const dir = tempDir();
      const file = join(dir, 'audit.jsonl');
      const key = signer(dir);
      const log = await openFileAuditLog({
        file,
        checkpoints: {
          signer: key,
          everyEntries: 2,
          everyMs: 0,
          postUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}/checkpoints`,
        },
      });
      for (let i = 1; i <= 2; i++) await log.append(step(i));
      await log.close();
      expect(received.map((c) => `${c.reason}@${c.seq}`)).toEqual(['periodic@2', 'shutdown@2']);
      expect(received).toEqual(checkpointsOf(file));
    } finally {
      await new Promise((r) => server.close(r));
    }
  });

  it('keeps the checkpoint locally and goes on when the witness is unreachable', async () => {
    const dir = tempDir();
    const file = join(dir, 'audit.jsonl');
    const log = await openFileAuditLog({
      file,
      checkpoints: { signer: null, everyEntries: 1, everyMs: 0, postUrl: 'http://127.0.0.1:1/checkpoints' },
    });
    await log.append(step(1));
    await log.close();
    expect(checkpointsOf(file).map((c) => c.reason)).toEqual(['periodic', 'shutdown']);
  });
});
