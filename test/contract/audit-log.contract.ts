// The audit log contract: the file store and the PostgreSQL store run these same tests.
// Tampering is done as someone with write access to the storage but not the signing key.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  generateSigningKeyPair,
  keyRing,
  loadSigningKey,
  sealEntry,
  verifyAudit,
  type AuditEntry,
  type AuditLog,
  type AuditReader,
  type AuditVerifyReport,
  type CheckpointOptions,
  type CheckpointSigner,
} from '../../src/audit/index.js';
import type { Clock } from '../../src/clock.js';
import { UpstreamError } from '../../src/errors.js';

export interface AuditChain {
  open(options?: { checkpoints?: Partial<CheckpointOptions>; clock?: Clock }): Promise<AuditLog>;
  reader(): AuditReader;
  /** Replaces the stored entries from `seq` on with `lines` (stored text), bypassing the writer. */
  replaceFrom(seq: number, lines: string[]): Promise<void>;
  /** The stored checkpoint records, and a way to put others in their place. */
  checkpointLines(): Promise<string[]>;
  replaceCheckpointLines(lines: string[]): Promise<void>;
  /**
   * Leaves what a crash in the middle of writing leaves, with `log` appending: for a file,
   * a partial last line; for PostgreSQL, appends whose connections were killed.
   */
  crashMidWrite(log: AuditLog, inFlight: Promise<AuditEntry>[]): Promise<void>;
  destroy(): Promise<void>;
}

export interface AuditStoreFixture {
  create(): Promise<AuditChain>;
  /** Writers that may append to one chain at once (a file log has one). */
  writers: number;
}

function keyPair(dir: string): CheckpointSigner {
  const file = join(dir, 'audit-signing.key');
  writeFileSync(file, generateSigningKeyPair().privatePem, { mode: 0o600 });
  return loadSigningKey(file);
}

const input = (i: number, runId = `run-${i % 3}`) => ({
  runId,
  principal: 'user:alice',
  kind: 'planner.turn',
  data: { step: i, note: 'Zürich ✓', nested: { b: [1, 2], a: null } },
});

async function appendN(log: AuditLog, n: number, from = 1): Promise<AuditEntry[]> {
  return Promise.all(Array.from({ length: n }, (_, i) => log.append(input(from + i))));
}

/** Entries forged as someone without the key would: every hash recomputed from `prevHash` on. */
function forge(prevHash: string, fromSeq: number, count: number): string[] {
  const lines: string[] = [];
  for (let i = 0; i < count; i++) {
    const { entry, line } = sealEntry({
      schemaVersion: 1,
      seq: fromSeq + i,
      time: '2026-01-01T00:00:00.000Z',
      runId: 'run-0',
      principal: 'user:mallory',
      kind: 'approval.granted',
      data: { forged: true },
      prevHash,
    });
    lines.push(line);
    prevHash = entry.hash;
  }
  return lines;
}

function verdicts(report: AuditVerifyReport): string[] {
  return report.checkpoints.map((c) => c.verdict);
}

export function auditLogContract(name: string, fixture: AuditStoreFixture): void {
  describe(`AuditLog contract: ${name}`, () => {
    let chain: AuditChain | null = null;
    let dir: string | null = null;
    const logs: AuditLog[] = [];
    const setUp = async () => {
      dir = mkdtempSync(join(tmpdir(), 'mlops-audit-contract-'));
      chain = await fixture.create();
      const signer = keyPair(dir);
      const open = async (checkpoints: Partial<CheckpointOptions> = {}) => {
        const log = await chain!.open({ checkpoints: { signer, everyEntries: 1_000_000, everyMs: 0, ...checkpoints } });
        logs.push(log);
        return log;
      };
      const verify = async () => {
        const reader = chain!.reader();
        try {
          return await verifyAudit(reader, { keys: keyRing([signer.publicKey]) });
        } finally {
          await reader.close();
        }
      };
      return { chain, signer, open, verify };
    };
    afterEach(async () => {
      for (const log of logs.splice(0)) await log.close().catch(() => undefined);
      await chain?.destroy();
      chain = null;
      if (dir) rmSync(dir, { recursive: true, force: true });
      dir = null;
    });

    it('appends entries with consecutive seqs that verify, proven through the signed shutdown checkpoint', async () => {
      const { open, verify } = await setUp();
      const log = await open();
      const entries = await appendN(log, 5);
      expect(entries.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5]);
      expect(entries[1]!.prevHash).toBe(entries[0]!.hash);
      await log.close();
      const report = await verify();
      expect(report.ok).toBe(true);
      expect(report.chain).toEqual({ ok: true, entries: 5, lastHash: entries[4]!.hash });
      expect(report.provenThrough).toBe(5);
      expect(report.provenBy?.checkpoint.reason).toBe('shutdown');
      expect(report.notCovered).toBeNull();
    });

    it('stores each entry exactly as append returned it', async () => {
      const { chain, open } = await setUp();
      const log = await open();
      const entries = await appendN(log, 3);
      await log.close();
      const reader = chain.reader();
      try {
        expect(await reader.tail({})).toEqual(entries);
      } finally {
        await reader.close();
      }
    });

    it('serialises many concurrent appends into one chain without gaps or forks', async () => {
      const { open, verify } = await setUp();
      const writers = await Promise.all(Array.from({ length: fixture.writers }, () => open()));
      const results = await Promise.all(
        writers.map((log, w) => Promise.all(Array.from({ length: 120 }, (_, i) => log.append(input(i, `run-w${w}`))))),
      );
      const seqs = results
        .flat()
        .map((e) => e.seq)
        .sort((a, b) => a - b);
      expect(seqs).toEqual(Array.from({ length: 120 * fixture.writers }, (_, i) => i + 1));
      for (const log of writers) await log.close();
      const report = await verify();
      expect(report.ok).toBe(true);
      expect(report.chain.entries).toBe(120 * fixture.writers);
    });

    it('continues the chain where it ended after a reopen', async () => {
      const { open, verify } = await setUp();
      const first = await open();
      const before = await appendN(first, 3);
      await first.close();
      const second = await open();
      expect(second.lastSeq()).toBe(3);
      const after = await second.append(input(4));
      expect(after).toMatchObject({ seq: 4, prevHash: before[2]!.hash });
      await second.close();
      expect((await verify()).ok).toBe(true);
    });

    it('reports an edited entry at its own seq', async () => {
      const { chain, open, verify } = await setUp();
      const log = await open();
      await appendN(log, 5);
      await log.close();
      const reader = chain.reader();
      const lines = await reader.lines(3, 5);
      await reader.close();
      await chain.replaceFrom(3, [lines[0]!.replace('"step":3', '"step":30'), ...lines.slice(1)]);
      const report = await verify();
      expect(report.ok).toBe(false);
      expect(report.chain).toMatchObject({ ok: false, firstBadSeq: 3, kind: 'hash_mismatch' });
    });

    it('catches the last entries removed, naming the checkpoint they contradict', async () => {
      const { chain, open, verify } = await setUp();
      const log = await open({ everyEntries: 4 });
      await appendN(log, 4);
      await appendN(log, 4, 5);
      await log.close();
      await chain.replaceFrom(6, []);
      const report = await verify();
      expect(report.ok).toBe(false);
      expect(report.chain).toMatchObject({ ok: true, entries: 5 });
      const truncated = report.checkpoints.filter((c) => c.verdict === 'truncated');
      expect(truncated.length).toBeGreaterThan(0);
      expect(truncated[0]!.checkpoint.seq).toBe(8);
      expect(truncated[0]!.detail).toMatch(/the log ends at seq 5: entries 6 to 8 or more were removed/);
    });

    it('catches entries removed and forged ones appended in their place with recomputed hashes', async () => {
      const { chain, open, verify } = await setUp();
      const log = await open();
      const entries = await appendN(log, 6);
      await log.close();
      // Remove the last three and append four forged ones that chain on: the chain is whole.
      await chain.replaceFrom(4, forge(entries[2]!.hash, 4, 4));
      const report = await verify();
      expect(report.chain).toMatchObject({ ok: true, entries: 7 });
      expect(report.ok).toBe(false);
      const rewritten = report.checkpoints.find((c) => c.verdict === 'rewritten');
      expect(rewritten?.checkpoint.seq).toBe(6);
      expect(rewritten?.detail).toMatch(/the chain was rewritten at or before seq 6/);
    });

    it('catches a chain rewritten whole with recomputed hashes', async () => {
      const { chain, open, verify } = await setUp();
      const log = await open();
      await appendN(log, 4);
      await log.close();
      await chain.replaceFrom(1, forge('0'.repeat(64), 1, 4));
      const report = await verify();
      expect(report.chain.ok).toBe(true);
      expect(report.ok).toBe(false);
      expect(verdicts(report)).toContain('rewritten');
      expect(report.provenThrough).toBe(0);
    });

    it('reports forged entries appended after the last checkpoint as not yet covered, never as proven', async () => {
      const { chain, open, verify } = await setUp();
      const log = await open();
      const entries = await appendN(log, 3);
      await log.checkpoint('requested');
      const more = await appendN(log, 2, 4);
      void entries;
      // Appended beyond every checkpoint while the writer is still open: nothing contradicts them.
      await chain.replaceFrom(6, forge(more[1]!.hash, 6, 2));
      const report = await verify();
      expect(report.provenThrough).toBe(3);
      expect(report.notCovered).toEqual({ from: 4, to: 7 });
      await log.close().catch(() => undefined);
    });

    it('catches a checkpoint edited without the key by its signature', async () => {
      const { chain, open, verify } = await setUp();
      const log = await open();
      const entries = await appendN(log, 3);
      await log.close();
      const lines = await chain.checkpointLines();
      const last = JSON.parse(lines.at(-1)!) as { hash: string; seq: number };
      // Point the last checkpoint at a shorter chain, keeping its old signature.
      const edited = JSON.stringify({ ...last, seq: 2, hash: entries[1]!.hash });
      await chain.replaceCheckpointLines([...lines.slice(0, -1), edited]);
      const report = await verify();
      expect(report.ok).toBe(false);
      expect(verdicts(report)).toContain('bad_signature');
    });

    it('does not count checkpoints signed by a key verify was not given as proof', async () => {
      const { open, chain } = await setUp();
      const log = await open();
      await appendN(log, 2);
      await log.close();
      const reader = chain.reader();
      try {
        const otherDir = join(dir!, 'other');
        mkdirSync(otherDir);
        const other = keyPair(otherDir);
        const report = await verifyAudit(reader, { keys: keyRing([other.publicKey]) });
        expect(report.ok).toBe(true);
        expect(new Set(verdicts(report))).toEqual(new Set(['unknown_key']));
        expect(report.provenThrough).toBe(0);
        expect(report.notCovered).toEqual({ from: 1, to: 2 });
      } finally {
        await reader.close();
      }
    });

    it('writes unsigned checkpoints without a key: they agree with the chain and prove nothing', async () => {
      const { open, verify } = await setUp();
      const log = await open({ signer: null });
      await appendN(log, 2);
      await log.close();
      const report = await verify();
      expect(report.ok).toBe(true);
      expect(verdicts(report).every((v) => v === 'unsigned')).toBe(true);
      expect(report.provenThrough).toBe(0);
    });

    it('writes a checkpoint every everyEntries appends', async () => {
      const { chain, open } = await setUp();
      const log = await open({ everyEntries: 5 });
      for (let i = 1; i <= 12; i++) await log.append(input(i));
      // Checkpoints are written one after another: this one comes after the periodic ones.
      await log.checkpoint('requested');
      const seqs = (await chain.checkpointLines()).map((l) => JSON.parse(l) as { seq: number; reason: string });
      expect(seqs.filter((c) => c.reason === 'periodic').map((c) => c.seq)).toEqual([5, 10]);
      await log.close();
    });

    it('rejects a value JSON cannot carry, and the chain goes on', async () => {
      const { open, verify } = await setUp();
      const log = await open();
      await expect(
        log.append({ runId: null, principal: 'p', kind: 'k', data: { n: Number.NaN } }),
      ).rejects.toMatchObject({ code: 'input_invalid' });
      await log.append(input(1));
      await log.close();
      expect((await verify()).chain).toMatchObject({ ok: true, entries: 1 });
    });

    it('after a crash in the middle of writing, keeps every append that resolved in a chain that verifies', async () => {
      const { chain, open, verify } = await setUp();
      const log = await open();
      await appendN(log, 10);
      const inFlight = Array.from({ length: 40 }, (_, i) => log.append(input(100 + i)));
      // Handled from the start: the crash rejects some of them while it is being staged.
      const settling = Promise.allSettled(inFlight);
      await chain.crashMidWrite(log, inFlight);
      const settled = await settling;
      for (const r of settled) if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(UpstreamError);
      const resolved = settled.flatMap((r) => (r.status === 'fulfilled' ? [r.value.seq] : []));
      await log.close().catch(() => undefined);
      const reopened = await open();
      await reopened.append(input(999));
      await reopened.close();
      const report = await verify();
      expect(report.chain.ok).toBe(true);
      expect(report.ok).toBe(true);
      const reader = chain.reader();
      try {
        const stored = new Set((await reader.tail({})).map((e) => e.seq));
        expect(resolved.filter((seq) => !stored.has(seq))).toEqual([]);
      } finally {
        await reader.close();
      }
    });
  });
}
