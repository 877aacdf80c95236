// Whether the process that owned some work is gone, when pids are reused.
import { describe, expect, it } from 'vitest';
import { ownerGone, PROCESS_TOKEN } from '../../src/process-identity.js';

describe('ownerGone', () => {
  it('says this process is not gone, and an earlier process with the same pid is', () => {
    expect(ownerGone({ pid: process.pid, token: PROCESS_TOKEN })).toBe(false);
    // A restarted container's agent is pid 1 again: the pid matches, the token does not.
    expect(ownerGone({ pid: process.pid, token: 'an-earlier-incarnation' })).toBe(true);
    expect(ownerGone({ pid: process.pid })).toBe(true);
  });

  it('says another live process is not gone, and a pid that no longer runs is', () => {
    expect(ownerGone({ pid: process.ppid, token: 'another-process' })).toBe(false);
    expect(ownerGone({ pid: 99_999_999, token: 'a-dead-process' })).toBe(true);
  });
});
