// Reads a file line by line in large chunks without holding it whole, keeping byte offsets
// so a caller can truncate at a line boundary.
import type { FileHandle } from 'node:fs/promises';

export interface Line {
  text: string;
  /** 1-based. */
  number: number;
  /** Byte offset of the line's first byte. */
  start: number;
  /** Byte offset just past the line, newline included. */
  end: number;
  /** False for a last line without a trailing newline. */
  terminated: boolean;
}

const CHUNK = 1 << 20;
const NEWLINE = 0x0a;

export interface ScanStart {
  /** Byte offset of a line's first byte. */
  position: number;
  /** Number of the line starting there. */
  line: number;
}

/**
 * Calls `onLine` for each line in the first `size` bytes (from `start`, default the
 * beginning); stops early when it returns false. Reading only up to a size taken
 * beforehand gives a consistent prefix while appends go on, and keeps a device such as
 * /dev/full (size 0) from being read forever.
 */
export async function scanLines(
  handle: FileHandle,
  size: number,
  onLine: (line: Line) => boolean,
  start: ScanStart = { position: 0, line: 1 },
): Promise<void> {
  const buffer = Buffer.allocUnsafe(CHUNK);
  let carry: Buffer = Buffer.alloc(0);
  let carryStart = start.position;
  let position = start.position;
  let number = start.line - 1;
  while (position < size) {
    const { bytesRead } = await handle.read(buffer, 0, Math.min(CHUNK, size - position), position);
    if (bytesRead === 0) break;
    position += bytesRead;
    const chunk =
      carry.length > 0 ? Buffer.concat([carry, buffer.subarray(0, bytesRead)]) : buffer.subarray(0, bytesRead);
    let from = 0;
    for (let nl = chunk.indexOf(NEWLINE, from); nl !== -1; nl = chunk.indexOf(NEWLINE, from)) {
      number++;
      const line: Line = {
        text: chunk.toString('utf8', from, nl),
        number,
        start: carryStart + from,
        end: carryStart + nl + 1,
        terminated: true,
      };
      if (!onLine(line)) return;
      from = nl + 1;
    }
    // Copy the remainder: `buffer` is reused by the next read.
    carry = Buffer.from(chunk.subarray(from));
    carryStart += from;
  }
  if (carry.length > 0) {
    onLine({
      text: carry.toString('utf8'),
      number: number + 1,
      start: carryStart,
      end: carryStart + carry.length,
      terminated: false,
    });
  }
}

/**
 * The line that ends (with its newline) at byte `end`, read backwards in growing windows
 * so a long file costs only that line; null when `end` is 0.
 */
export async function lineEndingAt(handle: FileHandle, end: number): Promise<string | null> {
  if (end === 0) return null;
  let window = 4096;
  for (;;) {
    const from = Math.max(0, end - window);
    const buffer = Buffer.alloc(end - from);
    let read = 0;
    while (read < buffer.length) {
      const { bytesRead } = await handle.read(buffer, read, buffer.length - read, from + read);
      if (bytesRead === 0) break;
      read += bytesRead;
    }
    const text = buffer.subarray(0, read);
    // The byte at end-1 is the line's own newline; the line starts after the one before it.
    const start = text.lastIndexOf(NEWLINE, text.length - 2);
    if (start !== -1 || from === 0) return text.subarray(start + 1, text.length - 1).toString('utf8');
    window *= 4;
  }
}
