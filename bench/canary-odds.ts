// What one analysis's failure probability means for a rollout: the chance a held canary is
// rolled back within an hour of analyses, and how many analyses a bad one survives.
// Consecutive analyses read disjoint windows of traffic, so they are independent trials.

/** P(some run of `k` failures in a row among `n` independent analyses that each fail with probability `p`). */
export function rollbackWithin(p: number, k: number, n: number): number {
  // dist[j] = P(no run of k yet, and the current run of failures is j long).
  let dist = new Float64Array(k);
  dist[0] = 1;
  let rolledBack = 0;
  for (let i = 0; i < n; i++) {
    const next = new Float64Array(k);
    for (let j = 0; j < k; j++) {
      const mass = dist[j]!;
      next[0]! += mass * (1 - p);
      if (j + 1 === k) rolledBack += mass * p;
      else next[j + 1]! += mass * p;
    }
    dist = next;
  }
  return rolledBack;
}

/** Expected independent analyses until `k` failures in a row: (1 − p^k) / ((1 − p) p^k); 1/p for k = 1. */
export function analysesUntilRun(p: number, k: number): number {
  if (p <= 0) return Number.POSITIVE_INFINITY;
  if (p >= 1) return k;
  return (1 - p ** k) / ((1 - p) * p ** k);
}

/**
 * Expected analyses until a canary that fails each with probability `p` is rolled back,
 * when its first analysis is a step (which rolls back on one failure) and the rest are
 * watch analyses of it held at that step, which roll back after `k` failures in a row.
 */
export function analysesToRollback(p: number, k: number): number {
  if (p <= 0) return Number.POSITIVE_INFINITY;
  return 1 + (1 - p) * analysesUntilRun(p, k);
}

/** Upper end of the 95% Wilson interval of a count, for a rate seen 0 (or few) times. */
export function upper95(failures: number, trials: number): number {
  const z = 1.959964;
  const p = failures / trials;
  const z2 = z * z;
  return (
    (p + z2 / (2 * trials) + z * Math.sqrt((p * (1 - p)) / trials + z2 / (4 * trials * trials))) / (1 + z2 / trials)
  );
}
