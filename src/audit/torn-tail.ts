// Sets aside a torn last line left by a crash mid-write: the bytes are kept beside the log
// for inspection, and the log is cut back to its last whole entry.
import type { FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { sha256Hex } from './canonical.js';
import { fsyncDir, writeNewFileDurably } from '../durable-file.js';

export interface SetAside {
  bytes: number;
  sha256: string;
  savedTo: string;
}

function stamp(ms: number): string {
  return new Date(ms).toISOString().replace(/[:.]/g, '-');
}

export async function setAsideTornTail(options: {
  file: string;
  handle: FileHandle;
  /** Offset just past the last whole entry. */
  goodBytes: number;
  size: number;
  /** Seq the torn entry would have had; names the saved file. */
  seq: number;
  now: number;
}): Promise<SetAside> {
  const { file, handle, goodBytes, size, seq, now } = options;
  const torn = Buffer.alloc(size - goodBytes);
  let read = 0;
  while (read < torn.length) {
    const { bytesRead } = await handle.read(torn, read, torn.length - read, goodBytes + read);
    if (bytesRead === 0) break;
    read += bytesRead;
  }
  const bytes = torn.subarray(0, read);
  // Saved before truncating: if we crash in between, the next open finds the same tail again.
  const base = `${file}.torn-${seq}-${stamp(now)}`;
  let savedTo = base;
  for (let attempt = 1; ; attempt++) {
    try {
      await writeNewFileDurably(savedTo, bytes);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 100) throw err;
      savedTo = `${base}-${attempt}`;
    }
  }
  await handle.truncate(goodBytes);
  await handle.sync();
  await fsyncDir(dirname(file));
  return { bytes: bytes.length, sha256: sha256Hex(bytes), savedTo };
}
