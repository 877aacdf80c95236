import { describe, expect, it } from 'vitest';
import { nextFireAt } from '../../../src/intake/index.js';

const at = (iso: string) => Date.parse(iso);
const iso = (ms: number) => new Date(ms).toISOString();

describe('nextFireAt', () => {
  it('gives the next time strictly after the given one', () => {
    expect(iso(nextFireAt('0 2 * * *', 'UTC', at('2026-03-28T01:59:59Z')))).toBe('2026-03-28T02:00:00.000Z');
    expect(iso(nextFireAt('0 2 * * *', 'UTC', at('2026-03-28T02:00:00Z')))).toBe('2026-03-29T02:00:00.000Z');
  });

  it("reads the expression in the schedule's time zone, across a daylight-saving change", () => {
    // 02:00 in London is 02:00 UTC in winter and 01:00 UTC once summer time starts (29 March 2026).
    expect(iso(nextFireAt('0 2 * * *', 'Europe/London', at('2026-03-27T03:00:00Z')))).toBe('2026-03-28T02:00:00.000Z');
    expect(iso(nextFireAt('0 2 * * *', 'Europe/London', at('2026-03-28T03:00:00Z')))).toBe('2026-03-29T01:00:00.000Z');
  });

  it('takes six fields with leading seconds', () => {
    expect(iso(nextFireAt('*/15 * * * * *', 'UTC', at('2026-01-01T00:00:01Z')))).toBe('2026-01-01T00:00:15.000Z');
  });
});
