// Option values that listings share (`--limit`, `--since`): parsed once, refused with a
// message that shows a value that works (commander turns it into exit code 2).
import { InvalidArgumentError } from 'commander';

export function parseLimit(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < 1)
    throw new InvalidArgumentError(`expected a positive whole number, like 50; got "${value}"`);
  return n;
}

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** `2h`, `30m`, `7d` (that long before `now`) or an ISO date/time, as an ISO instant. */
export function parseSince(value: string, now: number = Date.now()): string {
  const duration = /^(\d+)([smhdw])$/.exec(value);
  if (duration) return new Date(now - Number(duration[1]) * UNIT_MS[duration[2]!]!).toISOString();
  if (/^\d{4}-\d\d-\d\d([T ][\d:.]+(Z|[+-]\d\d:?\d\d)?)?$/.test(value) && !Number.isNaN(Date.parse(value)))
    return new Date(Date.parse(value)).toISOString();
  throw new InvalidArgumentError(
    `expected a duration like 30m, 2h or 7d, or an ISO date like 2026-12-01 or 2026-12-01T09:00:00Z; got "${value}"`,
  );
}
