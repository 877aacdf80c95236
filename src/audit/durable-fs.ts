// Small helpers that make file changes survive a crash: full writes, and fsync of directories.
import { open, type FileHandle } from 'node:fs/promises';

/** Writes every byte at the end of an O_APPEND handle; a short write is continued, not ignored. */
export async function writeAll(handle: FileHandle, bytes: Buffer): Promise<void> {
  let offset = 0;
  while (offset < bytes.length) {
    const { bytesWritten } = await handle.write(bytes, offset, bytes.length - offset, null);
    if (bytesWritten <= 0) throw new Error(`write made no progress after ${offset} of ${bytes.length} bytes`);
    offset += bytesWritten;
  }
}

/** Makes a directory's entries (a created, renamed or truncated file's name) durable. */
export async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Creates a new file holding exactly `bytes`, fsync'd; never overwrites an existing one. */
export async function writeNewFileDurably(path: string, bytes: Buffer): Promise<void> {
  const handle = await open(path, 'wx');
  try {
    await writeAll(handle, bytes);
    await handle.sync();
  } finally {
    await handle.close();
  }
}
