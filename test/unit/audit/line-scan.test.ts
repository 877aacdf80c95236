// Scanning lines keeps byte offsets exact (a torn tail is cut at them) whatever the text:
// ASCII chunks are decoded once and sliced, others line by line, across chunk boundaries.
import { writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { scanLines, type Line } from '../../../src/audit/line-scan.js';
import { useTempDir } from './temp-dir.js';

const tempDir = useTempDir();

async function scan(file: string, size: number): Promise<Omit<Line, 'number'>[]> {
  const handle = await open(file, 'r');
  const lines: Omit<Line, 'number'>[] = [];
  try {
    await scanLines(handle, size, ({ number: _n, ...line }) => (lines.push(line), true));
  } finally {
    await handle.close();
  }
  return lines;
}

/** What a scan must give: each line's bytes decoded alone, at its byte offsets. */
function expected(bytes: Buffer): Omit<Line, 'number'>[] {
  const lines: Omit<Line, 'number'>[] = [];
  let from = 0;
  for (let nl = bytes.indexOf(0x0a); nl !== -1; nl = bytes.indexOf(0x0a, from)) {
    lines.push({ text: bytes.toString('utf8', from, nl), start: from, end: nl + 1, terminated: true });
    from = nl + 1;
  }
  if (from < bytes.length)
    lines.push({ text: bytes.toString('utf8', from), start: from, end: bytes.length, terminated: false });
  return lines;
}

describe('scanLines', () => {
  it('gives each line with its byte offsets, for ASCII, multi-byte and invalid UTF-8, across 1 MiB chunks', async () => {
    const kinds = [
      Buffer.from('{"principal":"ops@example.com","data":{"n":1}}\n'),
      Buffer.from('{"principal":"José Müller 😀","data":{"n":2}}\n'),
      Buffer.concat([Buffer.from('{"bad":"'), Buffer.from([0xff, 0xe2, 0x82]), Buffer.from('"}\n')]),
      // One invalid byte decodes to one character: as many characters as bytes, yet not ASCII.
      Buffer.concat([Buffer.from('{"bad":"'), Buffer.from([0xff]), Buffer.from('"}\n')]),
    ];
    const dir = tempDir();
    for (const mix of [[0], [0, 1], [0, 2], [0, 3], [0, 0, 0, 1, 2, 3]]) {
      const parts: Buffer[] = [];
      for (let i = 0, bytes = 0; bytes < 2.5 * (1 << 20); i++) {
        const line = kinds[mix[i % mix.length]!]!;
        parts.push(line);
        bytes += line.length;
      }
      parts.push(Buffer.from('{"torn":'));
      const bytes = Buffer.concat(parts);
      const file = join(dir, `mix-${mix.join('')}.jsonl`);
      writeFileSync(file, bytes);
      expect(await scan(file, bytes.length)).toEqual(expected(bytes));
    }
  });
});
