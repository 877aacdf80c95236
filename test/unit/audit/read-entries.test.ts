import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readAuditEntries } from '../../../src/audit/index.js';
import { useTempDir } from './temp-dir.js';
import { readLines, writeLines, writeLog } from './write-log.js';

const tempDir = useTempDir();

describe('readAuditEntries', () => {
  it('returns every entry in order without options', async () => {
    const file = join(tempDir(), 'audit.jsonl');
    const entries = await writeLog(file, 4);
    expect(await readAuditEntries(file)).toEqual(entries);
  });

  it('returns the last N entries, and the last N of one run', async () => {
    const file = join(tempDir(), 'audit.jsonl');
    const entries = await writeLog(file, 3000);
    expect((await readAuditEntries(file, { tail: 3 })).map((e) => e.seq)).toEqual([2998, 2999, 3000]);
    const run1 = await readAuditEntries(file, { tail: 2, runId: 'run-1' });
    expect(run1).toEqual([entries[2996], entries[2998]]);
    expect(await readAuditEntries(file, { runId: 'run-9' })).toEqual([]);
  });

  it('skips an unterminated last line, which is a write in progress or a torn tail', async () => {
    const file = join(tempDir(), 'audit.jsonl');
    await writeLog(file, 2);
    appendFileSync(file, '{"schemaVersion":1,"se');
    expect((await readAuditEntries(file)).map((e) => e.seq)).toEqual([1, 2]);
  });

  it('points at verify when a complete line is not an entry', async () => {
    const file = join(tempDir(), 'audit.jsonl');
    await writeLog(file, 3);
    const lines = readLines(file);
    lines[1] = 'not json';
    writeLines(file, lines);
    await expect(readAuditEntries(file)).rejects.toMatchObject({
      code: 'audit_corrupt',
      message: expect.stringMatching(/line 2 .*audit verify/),
    });
  });

  it('rejects a tail that is not a positive whole number', async () => {
    const file = join(tempDir(), 'audit.jsonl');
    await writeLog(file, 1);
    await expect(readAuditEntries(file, { tail: 0 })).rejects.toThrow(/tail must be a positive whole number/);
    await expect(readAuditEntries(file, { tail: 1.5 })).rejects.toThrow(/tail must be a positive whole number/);
  });
});
