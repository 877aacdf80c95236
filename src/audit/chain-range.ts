// Verifying a long file log on every core: the file is cut at line boundaries into ranges,
// each range's lines are checked (hashes, and links within the range) on a worker thread,
// and the ranges are stitched in order, the first line of each checked against the end of
// the one before exactly as a single pass would. The result is the same as a single pass.
import { open } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { checkLine } from './chain-check.js';
import { scanLines } from './line-scan.js';
import { GENESIS_HASH, type VerifyProblemKind, type VerifyResult } from './types.js';

export interface RangeTask {
  file: string;
  start: number;
  end: number;
  /** Seqs whose hashes the caller wants (the checkpoints' seqs). */
  wanted: number[];
}

export interface RangeResult {
  /** Lines in the range (a torn last line counts). */
  lines: number;
  /** The range's first line, checked again by the caller against the range before it. */
  first: { text: string; terminated: boolean } | null;
  /** Good entries from the first line on, before any break. */
  entries: number;
  last: { seq: number; hash: string } | null;
  /** 1-based line within the range. */
  break: { index: number; kind: VerifyProblemKind; problem: string } | null;
  hashes: [number, string][];
}

/** The first line is taken as it stands (its own seq and prevHash); every later one must follow it. */
function statedLink(text: string): { seq: number; prevHash: string } {
  try {
    const value = JSON.parse(text) as { seq?: unknown; prevHash?: unknown };
    return {
      seq: typeof value.seq === 'number' ? value.seq : 1,
      prevHash: typeof value.prevHash === 'string' ? value.prevHash : GENESIS_HASH,
    };
  } catch {
    return { seq: 1, prevHash: GENESIS_HASH };
  }
}

export async function checkRange(task: RangeTask): Promise<RangeResult> {
  const wanted = new Set(task.wanted);
  const result: RangeResult = { lines: 0, first: null, entries: 0, last: null, break: null, hashes: [] };
  const handle = await open(task.file, 'r');
  try {
    let expectedSeq = 0;
    let prevHash = '';
    await scanLines(
      handle,
      task.end,
      (line) => {
        result.lines++;
        if (result.break) return true;
        if (result.first === null) {
          result.first = { text: line.text, terminated: line.terminated };
          ({ seq: expectedSeq, prevHash } = statedLink(line.text));
        }
        const verdict = checkLine(line.text, line.terminated, expectedSeq, prevHash);
        if (!('entry' in verdict)) {
          result.break = { index: result.lines, kind: verdict.kind, problem: verdict.problem };
          return true;
        }
        result.entries++;
        result.last = { seq: verdict.entry.seq, hash: verdict.entry.hash };
        if (wanted.has(verdict.entry.seq)) result.hashes.push([verdict.entry.seq, verdict.entry.hash]);
        expectedSeq = verdict.entry.seq + 1;
        prevHash = verdict.entry.hash;
        return true;
      },
      { position: task.start, line: 1 },
    );
  } finally {
    await handle.close();
  }
  return result;
}

/** Offsets just past a newline near each of `parts` equal cuts of the file, so every range holds whole lines. */
async function cuts(file: string, size: number, parts: number): Promise<number[]> {
  const handle = await open(file, 'r');
  const at = [0];
  try {
    const buffer = Buffer.alloc(64 * 1024);
    for (let i = 1; i < parts; i++) {
      let position = Math.max(Math.floor((size * i) / parts), at.at(-1)!);
      for (;;) {
        const { bytesRead } = await handle.read(buffer, 0, buffer.length, position);
        if (bytesRead === 0) break;
        const nl = buffer.subarray(0, bytesRead).indexOf(0x0a);
        if (nl !== -1) {
          at.push(position + nl + 1);
          break;
        }
        position += bytesRead;
      }
    }
  } finally {
    await handle.close();
  }
  at.push(size);
  return [...new Set(at)].filter((p) => p <= size).sort((a, b) => a - b);
}

// The worker runs this same module's checkRange: compiled (.js) or under a TypeScript loader (.ts).
const workerFile = fileURLToPath(new URL(`./verify-worker${extname(fileURLToPath(import.meta.url))}`, import.meta.url));

function inWorker(task: RangeTask): Promise<RangeResult> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(workerFile, { workerData: task });
    worker.once('message', (result: RangeResult) => resolve(result));
    worker.once('error', reject);
    worker.once('exit', (code) => {
      if (code !== 0) reject(new Error(`verify worker exited with code ${code}`));
    });
  });
}

/**
 * Runs a range on a worker thread. Built (.js), a worker that fails is an error; from the
 * TypeScript sources a thread may lack the loader (a test runner's transform), and the
 * range runs on this thread instead.
 */
async function runRange(task: RangeTask): Promise<RangeResult> {
  try {
    return await inWorker(task);
  } catch (err) {
    if (workerFile.endsWith('.js')) throw err;
    return checkRange(task);
  }
}

/** Below this, one pass is faster than starting threads. */
export const PARALLEL_MIN_BYTES = 8 * 1024 * 1024;

/**
 * Verifies the first `size` bytes of a file log as a single pass would, on up to one thread
 * per core; `run` runs a range (tests pass checkRange to stay on one thread).
 */
export async function walkFileInRanges(
  file: string,
  size: number,
  wanted: ReadonlySet<number>,
  options: { parts?: number; run?: (task: RangeTask) => Promise<RangeResult> } = {},
): Promise<{ chain: VerifyResult; hashes: Map<number, string> }> {
  const parts = options.parts ?? Math.min(4, availableParallelism());
  const offsets = await cuts(file, size, parts);
  const tasks = offsets.slice(0, -1).map((start, i) => ({ file, start, end: offsets[i + 1]!, wanted: [...wanted] }));
  const results = await Promise.all(tasks.map(options.run ?? runRange));
  const hashes = new Map<number, string>();
  let entries = 0;
  let lastHash = GENESIS_HASH;
  let lineBase = 0;
  for (const r of results) {
    if (r.first) {
      // Exactly the check a single pass makes of this line.
      const verdict = checkLine(r.first.text, r.first.terminated, entries + 1, lastHash);
      if (!('entry' in verdict))
        return {
          chain: {
            ok: false,
            entries,
            firstBadSeq: entries + 1,
            line: lineBase + 1,
            problem: verdict.problem,
            kind: verdict.kind,
          },
          hashes,
        };
    }
    for (const [seq, hash] of r.hashes) hashes.set(seq, hash);
    if (r.break) {
      const before = entries + r.entries;
      return {
        chain: {
          ok: false,
          entries: before,
          firstBadSeq: before + 1,
          line: lineBase + r.break.index,
          problem: r.break.problem,
          kind: r.break.kind,
        },
        hashes,
      };
    }
    if (r.last) {
      entries = r.last.seq;
      lastHash = r.last.hash;
    }
    lineBase += r.lines;
  }
  return { chain: { ok: true, entries, lastHash }, hashes };
}
