import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { UpstreamError, UserError } from '../../../src/errors.js';
import {
  GENESIS_HASH,
  hashEntry,
  openFileAuditLog,
  verifyAuditFile,
  type AuditEntry,
} from '../../../src/audit/index.js';
import { manualClock } from '../../support/manual-clock.js';
import { useTempDir } from './temp-dir.js';

const tempDir = useTempDir();

function linesOf(file: string): AuditEntry[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as AuditEntry);
}

describe('openFileAuditLog', () => {
  it('writes one hash-chained JSONL line per append, with seq, clock time and genesis prevHash', async () => {
    const file = join(tempDir(), 'nested', 'dir', 'audit.jsonl');
    const clock = manualClock();
    const log = await openFileAuditLog({ file, clock });
    const first = await log.append({
      runId: 'run-1',
      principal: 'alice',
      kind: 'run.started',
      data: { trigger: 'chat' },
    });
    clock.advance(1500);
    const second = await log.append({
      runId: 'run-1',
      principal: 'alice',
      kind: 'policy.decision',
      data: { effect: 'allow', n: 1.5 },
    });
    await log.close();

    const onDisk = linesOf(file);
    expect(onDisk).toEqual([first, second]);
    expect(first).toMatchObject({ schemaVersion: 1, seq: 1, time: '2026-01-01T00:00:00.000Z', prevHash: GENESIS_HASH });
    expect(second).toMatchObject({ seq: 2, time: '2026-01-01T00:00:01.500Z', prevHash: first.hash });
    const { hash, ...rest } = second;
    expect(hashEntry(rest)).toBe(hash);
    expect(hash).toMatch(/^[0-9a-f]{64}$/);
    expect(readFileSync(file, 'utf8').endsWith('\n')).toBe(true);
    expect(log.lastSeq()).toBe(2);
  });

  it('hashes the RFC 8785 canonical form, so key order in data does not change the hash', async () => {
    const base = {
      schemaVersion: 1 as const,
      seq: 1,
      time: '2026-01-01T00:00:00.000Z',
      runId: null,
      principal: 'p',
      kind: 'k',
      prevHash: GENESIS_HASH,
    };
    expect(hashEntry({ ...base, data: { a: 1, b: [true, null] } })).toBe(
      hashEntry({ ...base, data: { b: [true, null], a: 1 } }),
    );
    expect(hashEntry({ ...base, data: { a: 1 } })).not.toBe(hashEntry({ ...base, data: { a: 2 } }));
  });

  it('keeps seq and prevHash consistent when 200 callers append at once', async () => {
    const file = join(tempDir(), 'audit.jsonl');
    const log = await openFileAuditLog({ file });
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        log.append({ runId: `run-${i % 7}`, principal: `caller-${i}`, kind: 'call.proposed', data: { i } }),
      ),
    );
    await log.close();
    expect(results.map((e) => e.seq).sort((a, b) => a - b)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
    // Callers are served in the order they called.
    expect(results.map((e) => e.data.i)).toEqual(Array.from({ length: 200 }, (_, i) => i));
    expect(linesOf(file)).toEqual(results);
    expect(await verifyAuditFile(file)).toEqual({ ok: true, entries: 200, lastHash: results[199]!.hash });
  });

  it('continues the chain from the last entry when reopened', async () => {
    const file = join(tempDir(), 'audit.jsonl');
    const first = await openFileAuditLog({ file });
    await first.append({ runId: null, principal: 'ops', kind: 'run.started', data: {} });
    const last = await first.append({ runId: null, principal: 'ops', kind: 'run.finished', data: {} });
    await first.close();

    const second = await openFileAuditLog({ file });
    expect(second.lastSeq()).toBe(2);
    expect(second.recovered).toBeNull();
    const next = await second.append({ runId: null, principal: 'ops', kind: 'run.started', data: {} });
    await second.close();
    expect(next).toMatchObject({ seq: 3, prevHash: last.hash });
    expect(await verifyAuditFile(file)).toMatchObject({ ok: true, entries: 3 });
  });

  it('rejects data JSON cannot carry with a UserError naming the path, and keeps working', async () => {
    const file = join(tempDir(), 'audit.jsonl');
    const log = await openFileAuditLog({ file });
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ score: Number.NaN }, /data\.score is NaN/],
      [{ nested: { limit: Infinity } }, /data\.nested\.limit is Infinity/],
      [{ missing: undefined }, /data\.missing is undefined; omit the key or use null/],
      [{ fn: () => 1 }, /data\.fn is a function/],
      [{ when: new Date(0) }, /data\.when is a Date; pass date\.toISOString\(\)/],
      [{ list: [1, 10n] }, /data\.list\[1\] is a bigint/],
      [{ err: new Error('x') }, /data\.err is an Error/],
      [{ m: new Map() }, /data\.m is a Map/],
      [cyclic, /data\.self is a circular reference/],
    ];
    for (const [data, message] of cases) {
      const attempt = log.append({ runId: null, principal: 'p', kind: 'k', data });
      await expect(attempt).rejects.toThrow(message);
      await expect(attempt).rejects.toBeInstanceOf(UserError);
    }
    await expect(log.append({ runId: null, principal: '', kind: 'k', data: {} })).rejects.toThrow(
      /principal must be a non-empty string/,
    );
    await expect(
      log.append({ runId: null, principal: 'p', kind: 'k', data: [] as unknown as Record<string, unknown> }),
    ).rejects.toThrow(/data must be a plain object, got an array/);
    expect(log.failed).toBeNull();
    // The same array twice is a tree once serialised, not a cycle.
    const shared = [1, 2];
    const ok = await log.append({ runId: null, principal: 'p', kind: 'k', data: { a: shared, b: shared } });
    expect(ok.seq).toBe(1);
    await log.close();
  });

  it('stores a copy of data, so mutating it after append changes nothing on disk', async () => {
    const file = join(tempDir(), 'audit.jsonl');
    const log = await openFileAuditLog({ file });
    const data = { args: { percent: 5 } };
    const pending = log.append({ runId: 'r', principal: 'p', kind: 'call.proposed', data });
    data.args.percent = 100;
    const entry = await pending;
    await log.close();
    expect(entry.data).toEqual({ args: { percent: 5 } });
    expect(await verifyAuditFile(file)).toMatchObject({ ok: true, entries: 1 });
  });

  it('finishes pending appends on close and refuses appends after it', async () => {
    const file = join(tempDir(), 'audit.jsonl');
    const log = await openFileAuditLog({ file });
    const pending = [1, 2, 3].map((i) => log.append({ runId: null, principal: 'p', kind: 'k', data: { i } }));
    await log.close();
    expect((await Promise.all(pending)).map((e) => e.seq)).toEqual([1, 2, 3]);
    const late = log.append({ runId: null, principal: 'p', kind: 'k', data: {} });
    await expect(late).rejects.toBeInstanceOf(UpstreamError);
    await expect(late).rejects.toThrow(/is closed/);
  });

  it('explains a path that cannot hold a log', async () => {
    const dir = tempDir();
    await expect(openFileAuditLog({ file: dir })).rejects.toThrow(/cannot open audit log .*point audit\.file/);
    await expect(openFileAuditLog({ file: '' })).rejects.toThrow(/non-empty path/);
  });
});

describe('opening one log twice in a process', () => {
  it('refuses the second open, which would fork the chain, and allows it again after close', async () => {
    const dir = tempDir();
    const file = join(dir, 'audit.jsonl');
    const log = await openFileAuditLog({ file });
    // Spelled differently, still the same file.
    await expect(openFileAuditLog({ file: `${dir}/./audit.jsonl` })).rejects.toThrow(/already open in this process/);
    await log.close();
    const again = await openFileAuditLog({ file });
    await again.close();
  });
});
