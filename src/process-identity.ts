// Who owns work a process started (a training job, a canary's stepping): its pid, and a
// token drawn once per process. The pid alone cannot tell a dead owner from this process
// when the pid is reused: in a container the agent is often pid 1 again after a restart.
import { randomBytes } from 'node:crypto';
import { processAlive } from './file-lock.js';

/** This process's token: the same for every lab object in it, different after any restart. */
export const PROCESS_TOKEN = randomBytes(8).toString('hex');

/**
 * True when the process that owned some work is gone: another process's token (or none,
 * from an older build) and either this pid (an earlier incarnation) or a pid that no longer runs.
 */
export function ownerGone(owner: { pid: number; token?: string | undefined }): boolean {
  if (owner.token === PROCESS_TOKEN) return false;
  return owner.pid === process.pid || !processAlive(owner.pid);
}
