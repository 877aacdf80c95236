import { describe, expect, it } from 'vitest';
import { queueErrorLog } from '../../../src/app/queue-error-log.js';
import { manualClock } from '../../support/manual-clock.js';

function capture() {
  const lines: Array<{ obj: Record<string, unknown>; msg: string }> = [];
  return { lines, logger: { warn: (obj: Record<string, unknown>, msg: string) => lines.push({ obj, msg }) } as never };
}

describe('the run queue error log', () => {
  it('logs a reconnect error once per 30 s, then says how many repeats it left out', () => {
    const { lines, logger } = capture();
    const clock = manualClock();
    const log = queueErrorLog(logger, clock);
    const refused = new Error('connect ECONNREFUSED 10.0.0.5:6379');
    for (let s = 0; s < 30; s++) {
      log(null, refused);
      log(null, refused);
      clock.advance(1000);
    }
    expect(lines).toHaveLength(1);
    log(null, refused);
    expect(lines).toHaveLength(2);
    expect(lines[1]!.obj).toMatchObject({ err: refused, repeatsNotLogged: 59 });
  });

  it('logs each distinct error and every failed run attempt', () => {
    const { lines, logger } = capture();
    const log = queueErrorLog(logger, manualClock());
    log(null, new Error('connect ECONNREFUSED 10.0.0.5:6379'));
    log(null, new Error('NOAUTH Authentication required'));
    log('run_a', new Error('redis: saving run run_a failed'));
    log('run_a', new Error('redis: saving run run_a failed'));
    expect(lines.map((l) => l.msg)).toEqual([
      'the run queue reported an error (Redis unreachable?)',
      'the run queue reported an error (Redis unreachable?)',
      'a run attempt failed',
      'a run attempt failed',
    ]);
  });
});
