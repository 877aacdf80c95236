// Reads a file line by line in large chunks without holding it whole, keeping byte offsets
// so a caller can truncate at a line boundary.
import { isAscii } from 'node:buffer';
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
  let buffer = Buffer.allocUnsafe(CHUNK);
  /** Bytes of an unfinished line kept at the buffer's start, and the file offset they start at. */
  let kept = 0;
  let keptStart = start.position;
  let position = start.position;
  let number = start.line - 1;
  while (position < size) {
    if (kept === buffer.length) {
      // One line longer than the buffer: grow it.
      const larger = Buffer.allocUnsafe(buffer.length * 2);
      buffer.copy(larger, 0, 0, kept);
      buffer = larger;
    }
    const { bytesRead } = await handle.read(buffer, kept, Math.min(buffer.length - kept, size - position), position);
    if (bytesRead === 0) break;
    position += bytesRead;
    const filled = kept + bytesRead;
    const whole = buffer.lastIndexOf(NEWLINE, filled - 1) + 1;
    // An ASCII run (audit lines mostly are) is decoded once, many times faster than UTF-8,
    // and its string offsets are byte offsets; other text is decoded line by line.
    const text = whole > 0 && isAscii(buffer.subarray(0, whole)) ? buffer.toString('ascii', 0, whole) : null;
    let from = 0;
    while (from < whole) {
      const nl = text !== null ? text.indexOf('\n', from) : buffer.indexOf(NEWLINE, from);
      number++;
      const line: Line = {
        text: text !== null ? text.slice(from, nl) : buffer.toString('utf8', from, nl),
        number,
        start: keptStart + from,
        end: keptStart + nl + 1,
        terminated: true,
      };
      if (!onLine(line)) return;
      from = nl + 1;
    }
    // The unfinished line moves to the buffer's start; the next read goes after it.
    buffer.copy(buffer, 0, whole, filled);
    kept = filled - whole;
    keptStart += whole;
  }
  if (kept > 0) {
    onLine({
      text: buffer.toString('utf8', 0, kept),
      number: number + 1,
      start: keptStart,
      end: keptStart + kept,
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
