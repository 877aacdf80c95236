// Crash-safe file writes: a reader sees the old content or the new, never half of one, and
// a finished write survives a power cut (file and directory are fsync'd). Everything the
// agent keeps (audit log, runs, approvals, executions, queue, lab) is private to its user:
// directories are created 0700 and files 0600.
import { randomBytes } from 'node:crypto';
import { link, mkdir, open, readFile, rename, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** Mode of every file the agent creates: its user only. */
export const PRIVATE_FILE_MODE = 0o600;
/** Mode of every directory the agent creates: its user only. */
export const PRIVATE_DIR_MODE = 0o700;

/** `mkdir -p` with private modes for every directory it creates (existing ones keep theirs). */
export async function mkdirPrivate(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
}

/** A temp name beside `file`, unique across processes and threads. */
export function tempPathFor(file: string): string {
  return join(dirname(file), `.${basename(file)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
}

/** fsync a directory so a rename or a new entry in it is durable. */
export async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function writeSynced(file: string, data: string | Uint8Array): Promise<void> {
  const handle = await open(file, 'wx', PRIVATE_FILE_MODE);
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Write-then-rename: replaces `file` atomically. */
export async function writeFileAtomic(file: string, data: string | Uint8Array): Promise<void> {
  await mkdirPrivate(dirname(file));
  const tmp = tempPathFor(file);
  try {
    await writeSynced(tmp, data);
    await rename(tmp, file);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  await fsyncDir(dirname(file));
}

/**
 * Creates `file` with `data` only if it does not exist yet (link() fails on an existing
 * name, atomically, across processes). Returns false when another writer got there first.
 */
export async function createFileExclusive(file: string, data: string | Uint8Array): Promise<boolean> {
  await mkdirPrivate(dirname(file));
  const tmp = tempPathFor(file);
  await writeSynced(tmp, data);
  try {
    await link(tmp, file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  } finally {
    await unlink(tmp).catch(() => undefined);
  }
  await fsyncDir(dirname(file));
  return true;
}

/** Parsed JSON, or undefined when the file does not exist. */
export async function readJsonIfExists<T>(file: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as T;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Writes every byte at the end of an O_APPEND handle; a short write is continued, not ignored. */
export async function writeAll(handle: FileHandle, bytes: Buffer): Promise<void> {
  let offset = 0;
  while (offset < bytes.length) {
    const { bytesWritten } = await handle.write(bytes, offset, bytes.length - offset, null);
    if (bytesWritten <= 0) throw new Error(`write made no progress after ${offset} of ${bytes.length} bytes`);
    offset += bytesWritten;
  }
}

/** Creates a new file holding exactly `bytes`, fsync'd; never overwrites an existing one. */
export async function writeNewFileDurably(path: string, bytes: Buffer): Promise<void> {
  const handle = await open(path, 'wx', PRIVATE_FILE_MODE);
  try {
    await writeAll(handle, bytes);
    await handle.sync();
  } finally {
    await handle.close();
  }
}
