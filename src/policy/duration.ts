// Durations in policy files (`expiresIn: 4h`), written the way operators write them.

const UNIT_MS: Record<string, number> = {
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

/** An approval that waits longer than this is stale: the world it was asked about has moved on. */
export const MAX_DURATION_MS = 30 * UNIT_MS.d!;

const DURATION = /^(?:\d+[smhd])+$/;
const PART = /(\d+)([smhd])/g;

/**
 * Parses `90s`, `30m`, `4h`, `1d`, `1h30m` into milliseconds. Returns an error message
 * (saying how to fix it) instead of throwing, so the loader can attach file and line.
 */
export function parseDuration(text: string): { ms: number } | { error: string } {
  const parsed = parseSpan(text);
  if ('error' in parsed) return parsed;
  if (parsed.ms <= 0) return { error: `"${text}" is zero; an approval needs time to be granted, e.g. "4h"` };
  if (parsed.ms > MAX_DURATION_MS) return { error: `"${text}" is longer than 30d; approvals must expire sooner` };
  return parsed;
}

/**
 * The same notation without the approval limits (data contracts: `maxAge: 90d`); zero is
 * returned as 0 for the caller to judge.
 */
export function parseSpan(text: string): { ms: number } | { error: string } {
  const trimmed = text.trim();
  if (!DURATION.test(trimmed)) {
    return {
      error: `"${text}" is not a duration; write a number and a unit (s, m, h, d), e.g. "30m", "4h" or "1h30m"`,
    };
  }
  let ms = 0;
  for (const [, amount, unit] of trimmed.matchAll(PART)) {
    ms += Number(amount) * UNIT_MS[unit!]!;
  }
  return { ms };
}

export function formatDuration(ms: number): string {
  const parts: string[] = [];
  let rest = ms;
  for (const unit of ['d', 'h', 'm', 's'] as const) {
    const size = UNIT_MS[unit]!;
    const n = Math.floor(rest / size);
    if (n > 0) parts.push(`${n}${unit}`);
    rest -= n * size;
  }
  return parts.length > 0 ? parts.join('') : `${ms}ms`;
}
