// Dates relative to today, so data the credit contract's freshness rule judges by the real
// clock (the lab's default) stays fresh whenever the suite runs.

/** YYYY-MM-DD, `days` days before now (UTC). */
export function daysAgo(days: number, now = Date.now()): string {
  return new Date(now - days * 86_400_000).toISOString().slice(0, 10);
}
