// Verifying a file in ranges (one per core) says exactly what a single pass says, wherever
// the damage falls relative to the cuts.
import { appendFileSync, writeFileSync } from 'node:fs';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkRange, walkFileInRanges } from '../../../src/audit/chain-range.js';
import { useTempDir } from './temp-dir.js';
import { readLines, writeLog } from './write-log.js';

const tempDir = useTempDir();

async function both(file: string, parts: number, wanted: number[]) {
  const size = statSync(file).size;
  const single = await walkFileInRanges(file, size, new Set(wanted), { parts: 1, run: checkRange });
  const ranged = await walkFileInRanges(file, size, new Set(wanted), { parts, run: checkRange });
  return { single, ranged };
}

describe('verifying a file log in ranges', () => {
  it('agrees with a single pass on an intact log, and on every edit, deletion, swap and duplicate at every line', async () => {
    const dir = tempDir();
    const source = join(dir, 'source.jsonl');
    await writeLog(source, 24);
    const lines = readLines(source);
    const variants: string[][] = [lines];
    for (let k = 0; k < lines.length; k++) {
      variants.push(lines.map((l, i) => (i === k ? l.replace('"step":', '"step":1') : l)));
      variants.push(lines.filter((_, i) => i !== k));
      if (k + 1 < lines.length)
        variants.push(lines.map((l, i) => (i === k ? lines[k + 1]! : i === k + 1 ? lines[k]! : l)));
      variants.push([...lines.slice(0, k + 1), lines[k]!, ...lines.slice(k + 1)]);
      variants.push(lines.map((l, i) => (i === k ? 'not json' : l)));
    }
    const file = join(dir, 'audit.jsonl');
    for (const variant of variants) {
      writeFileSync(file, variant.map((l) => `${l}\n`).join(''));
      for (const parts of [2, 3, 5, 7]) {
        const { single, ranged } = await both(file, parts, [3, 12, 24]);
        expect(ranged).toEqual(single);
      }
    }
  });

  it('reports a torn last line as a single pass does', async () => {
    const file = join(tempDir(), 'audit.jsonl');
    await writeLog(file, 10);
    appendFileSync(file, '{"schemaVersion":1,"seq":11,"ti');
    const { single, ranged } = await both(file, 4, []);
    expect(single.chain).toMatchObject({ ok: false, entries: 10, kind: 'truncated' });
    expect(ranged).toEqual(single);
  });
});
