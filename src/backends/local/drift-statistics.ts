// The drift statistics shared by the data checks, the canary analysis and the monitor:
// population stability index, two-sample Kolmogorov–Smirnov, and KL divergence, with
// bins taken from the reference sample so every comparison uses the same edges.

/** Proportions of 0 would make the logarithms infinite; empty bins count as this share. */
export const EMPTY_BIN_SHARE = 1e-4;

/** PSI warns at this value and alerts at `PSI_ALERT` (the industry's usual bands). */
export const PSI_WARN = 0.1;
export const PSI_ALERT = 0.25;

function smoothed(shares: number[]): number[] {
  return shares.map((s) => (s > 0 ? s : EMPTY_BIN_SHARE));
}

/** Sum over bins of (actual - expected) * ln(actual / expected). Inputs are shares summing to 1. */
export function psiFromShares(expected: number[], actual: number[]): number {
  if (expected.length !== actual.length)
    throw new Error(`PSI needs the same bins: ${expected.length} vs ${actual.length}`);
  const e = smoothed(expected);
  const a = smoothed(actual);
  let psi = 0;
  for (let i = 0; i < e.length; i++) psi += (a[i]! - e[i]!) * Math.log(a[i]! / e[i]!);
  return psi;
}

/** KL(p || q) = sum p ln(p / q), in nats. Inputs are shares summing to 1. */
export function klFromShares(p: number[], q: number[]): number {
  if (p.length !== q.length) throw new Error(`KL needs the same bins: ${p.length} vs ${q.length}`);
  const ps = smoothed(p);
  const qs = smoothed(q);
  let kl = 0;
  for (let i = 0; i < ps.length; i++) kl += ps[i]! * Math.log(ps[i]! / qs[i]!);
  return kl;
}

function sorted(values: readonly number[]): Float64Array {
  // A typed array sorts numerically (not as strings) and without boxing.
  return Float64Array.from(values).sort();
}

/**
 * Upper edges of `bins` reference-quantile bins (the last bin is open). Edges are values
 * of the sample (no interpolation, which would invent edges between discrete values), and
 * equal edges are merged, so a feature with many ties (counts, mostly zeros) gets fewer,
 * wider bins.
 */
export function quantileEdges(reference: readonly number[], bins = 10): number[] {
  const asc = sorted(reference);
  const edges: number[] = [];
  if (asc.length === 0) return edges;
  for (let i = 1; i < bins; i++) {
    const edge = asc[Math.floor((asc.length - 1) * (i / bins))]!;
    if (edges.length === 0 || edge > edges[edges.length - 1]!) edges.push(edge);
  }
  return edges;
}

/** Share of values in each bin: bin i holds values <= edges[i] and > edges[i-1]. */
export function binShares(values: readonly number[], edges: readonly number[]): number[] {
  return binCounts(values, edges).map((c) => (values.length === 0 ? 0 : c / values.length));
}

/** Values in each bin, binned as binShares does. */
export function binCounts(values: readonly number[], edges: readonly number[]): number[] {
  const counts = new Array<number>(edges.length + 1).fill(0);
  for (const v of values) {
    let lo = 0;
    let hi = edges.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (v <= edges[mid]!) hi = mid;
      else lo = mid + 1;
    }
    counts[lo]!++;
  }
  return counts;
}

/** Shares of each category, over the union of categories seen in either sample (sorted). */
export function categoryShares(
  reference: readonly string[],
  actual: readonly string[],
): { categories: string[]; expected: number[]; actual: number[] } {
  const categories = [...new Set([...reference, ...actual])].sort();
  const share = (values: readonly string[]) => {
    const counts = new Map<string, number>();
    for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
    return categories.map((c) => (values.length === 0 ? 0 : (counts.get(c) ?? 0) / values.length));
  };
  return { categories, expected: share(reference), actual: share(actual) };
}

/** PSI of a numeric sample against a reference, on 10 reference-quantile bins. */
export function psiNumeric(reference: readonly number[], actual: readonly number[], bins = 10): number {
  const edges = quantileEdges(reference, bins);
  return psiFromShares(binShares(reference, edges), binShares(actual, edges));
}

export function psiCategorical(reference: readonly string[], actual: readonly string[]): number {
  const shares = categoryShares(reference, actual);
  return psiFromShares(shares.expected, shares.actual);
}

/** KL(actual || reference) of two score samples on the reference's quantile bins. */
export function klNumeric(reference: readonly number[], actual: readonly number[], bins = 10): number {
  const edges = quantileEdges(reference, bins);
  return klFromShares(binShares(actual, edges), binShares(reference, edges));
}

/**
 * Kolmogorov's limiting distribution Q(λ) = 2 Σ (-1)^(k-1) exp(-2 k² λ²), the
 * probability that the scaled statistic exceeds λ under the null hypothesis.
 */
function kolmogorovQ(lambda: number): number {
  if (lambda < 1e-3) return 1;
  let sum = 0;
  let sign = 1;
  for (let k = 1; k <= 100; k++) {
    const term = sign * Math.exp(-2 * k * k * lambda * lambda);
    sum += term;
    if (Math.abs(term) < 1e-12) break;
    sign = -sign;
  }
  return Math.min(1, Math.max(0, 2 * sum));
}

/**
 * Two-sample Kolmogorov–Smirnov test: D = max |F_a(x) - F_b(x)|, with the asymptotic
 * p-value (Stephens' small-sample correction, as in Numerical Recipes).
 */
export function ksTest(a: readonly number[], b: readonly number[]): { statistic: number; pValue: number } {
  if (a.length === 0 || b.length === 0) return { statistic: 0, pValue: 1 };
  const x = sorted(a);
  const y = sorted(b);
  let i = 0;
  let j = 0;
  let d = 0;
  while (i < x.length && j < y.length) {
    const v = Math.min(x[i]!, y[j]!);
    while (i < x.length && x[i]! <= v) i++;
    while (j < y.length && y[j]! <= v) j++;
    d = Math.max(d, Math.abs(i / x.length - j / y.length));
  }
  const ne = (x.length * y.length) / (x.length + y.length);
  const sqrtNe = Math.sqrt(ne);
  return { statistic: d, pValue: kolmogorovQ((sqrtNe + 0.12 + 0.11 / sqrtNe) * d) };
}

export function psiSeverity(psi: number): 'info' | 'warn' | 'alert' {
  if (psi >= PSI_ALERT) return 'alert';
  if (psi >= PSI_WARN) return 'warn';
  return 'info';
}
