// A lock file shared by processes and worker threads: created with O_EXCL ('wx'), holding
// the owner's pid, host and time. A lock whose owner process is gone, or that is older than
// `staleMs`, is taken over, so a crash never wedges the registry or the audit log.
import { randomBytes, randomInt } from 'node:crypto';
import { link, open, readFile, rename, stat, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { PRIVATE_FILE_MODE } from './durable-file.js';
import { UpstreamError } from './errors.js';

export interface FileLockOptions {
  /** Give up after this long (default 15 s). */
  timeoutMs?: number;
  /** A lock held longer than this is presumed abandoned (default 30 s; holders take milliseconds). */
  staleMs?: number;
  /** Who needs the lock, for the error message (default `lock`). */
  service?: string;
}

export interface HeldLock {
  /** Removes the lock if it is still ours (it may have been broken as stale). */
  release(): Promise<void>;
}

interface LockOwner {
  pid: number;
  host: string;
  at: number;
  token: string;
}

/** True when a process with this pid exists on this host. */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function isStale(owner: LockOwner | undefined, staleMs: number): boolean {
  if (!owner) return true;
  if (Date.now() - owner.at > staleMs) return true;
  return owner.host === hostname() && !processAlive(owner.pid);
}

async function readOwner(lockPath: string): Promise<{ raw: string; owner: LockOwner | undefined } | undefined> {
  try {
    const raw = await readFile(lockPath, 'utf8');
    try {
      return { raw, owner: JSON.parse(raw) as LockOwner };
    } catch {
      // Empty or torn: being written right now, or its writer died between create and
      // write. Only its age can tell, so judge it by the file's mtime.
      const { mtimeMs } = await stat(lockPath);
      return { raw, owner: { pid: -1, host: '', at: mtimeMs, token: '' } };
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/**
 * Moves a stale lock aside. Rename is atomic, so of two processes that both saw the same
 * stale lock only one moves it; if what we moved turns out to be a fresh lock (someone
 * replaced the stale one in between), it is linked back.
 */
async function breakStaleLock(lockPath: string, seen: string): Promise<void> {
  const aside = `${lockPath}.stale.${process.pid}.${randomBytes(4).toString('hex')}`;
  try {
    await rename(lockPath, aside);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  const moved = await readFile(aside, 'utf8').catch(() => seen);
  if (moved !== seen) await link(aside, lockPath).catch(() => undefined);
  await unlink(aside).catch(() => undefined);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export async function acquireFileLock(lockPath: string, options: FileLockOptions = {}): Promise<HeldLock> {
  const timeoutMs = options.timeoutMs ?? 15_000;
  const staleMs = options.staleMs ?? 30_000;
  const owner: LockOwner = {
    pid: process.pid,
    host: hostname(),
    at: Date.now(),
    token: randomBytes(8).toString('hex'),
  };
  const deadline = Date.now() + timeoutMs;
  let delay = 2;
  for (;;) {
    try {
      const handle = await open(lockPath, 'wx', PRIVATE_FILE_MODE);
      try {
        owner.at = Date.now();
        await handle.writeFile(JSON.stringify(owner));
      } finally {
        await handle.close();
      }
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const current = await readOwner(lockPath);
    if (current && isStale(current.owner, staleMs)) {
      await breakStaleLock(lockPath, current.raw);
      continue;
    }
    if (Date.now() > deadline) {
      throw new UpstreamError(
        options.service ?? 'lock',
        `timed out after ${timeoutMs} ms waiting for lock ${lockPath} (held by ${current?.raw || 'unknown'}); delete it if its owner is gone`,
        {
          retryable: true,
          code: 'upstream_timeout',
        },
      );
    }
    // Jittered backoff so many waiters do not retry in lockstep.
    await sleep(delay + randomInt(delay + 1));
    delay = Math.min(50, delay * 2);
  }
  return {
    async release() {
      const current = await readOwner(lockPath);
      if (current?.owner?.token === owner.token) await unlink(lockPath).catch(() => undefined);
    },
  };
}

export async function withFileLock<T>(
  lockPath: string,
  fn: () => Promise<T>,
  options: FileLockOptions = {},
): Promise<T> {
  const lock = await acquireFileLock(lockPath, { service: 'lab registry', ...options });
  try {
    return await fn();
  } finally {
    await lock.release();
  }
}
