import { describe, expect, it } from 'vitest';
import { RUN_STATUSES } from '../../../src/agent/run.js';
import { EXIT, exitCodeForRun } from '../../../src/cli/exit-codes.js';

describe('the exit code of a command that ran one run', () => {
  it('is 0 for a run that succeeded or waits, 1 failed or refused, 5 when it needs a person', () => {
    expect(Object.fromEntries(RUN_STATUSES.map((s) => [s, exitCodeForRun(s)]))).toEqual({
      running: EXIT.failed,
      waiting_approval: EXIT.ok,
      waiting: EXIT.ok,
      succeeded: EXIT.ok,
      failed: EXIT.failed,
      refused: EXIT.failed,
      needs_attention: EXIT.needsAttention,
    });
    expect(EXIT.needsAttention).toBe(5);
  });
});
