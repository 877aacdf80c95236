// The sample-size-aware statistics the canary analysis decides on. A window of 100 canary
// requests is noisy: two identical versions differ by several accuracy points and by a PSI
// of ~0.1 from sampling alone. Each check therefore asks whether the evidence shows the
// canary beyond its threshold at a stated confidence, not whether the raw numbers are.
import { binCounts, psiFromShares, quantileEdges } from './drift-statistics.js';

/**
 * Inverse of the standard normal CDF (Acklam's rational approximation, relative error
 * below 1.2e-9), so any confidence level an operator sets maps to its z.
 */
export function normalQuantile(p: number): number {
  if (!(p > 0 && p < 1)) throw new RangeError(`normalQuantile needs 0 < p < 1, got ${p}`);
  const a = [
    -39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716, 2.506628277459239,
  ];
  const b = [-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572];
  const c = [
    -0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968,
    2.938163982698783,
  ];
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  const low = 0.02425;
  if (p < low) {
    const q = Math.sqrt(-2 * Math.log(p));
    return (
      (((((c[0]! * q + c[1]!) * q + c[2]!) * q + c[3]!) * q + c[4]!) * q + c[5]!) /
      ((((d[0]! * q + d[1]!) * q + d[2]!) * q + d[3]!) * q + 1)
    );
  }
  if (p > 1 - low) return -normalQuantile(1 - p);
  const q = p - 0.5;
  const r = q * q;
  return (
    ((((((a[0]! * r + a[1]!) * r + a[2]!) * r + a[3]!) * r + a[4]!) * r + a[5]!) * q) /
    (((((b[0]! * r + b[1]!) * r + b[2]!) * r + b[3]!) * r + b[4]!) * r + 1)
  );
}

/**
 * Wilson score interval for a proportion `successes / n` at normal quantile `z`. Unlike
 * p ± z·SE it stays inside 0..1 and keeps a width when 0 of 100 requests failed, which is
 * the usual case for error rates.
 */
export function wilsonInterval(successes: number, n: number, z: number): { lower: number; upper: number } {
  if (n <= 0) return { lower: 0, upper: 1 };
  const p = successes / n;
  const z2 = z * z;
  const centre = (p + z2 / (2 * n)) / (1 + z2 / n);
  const half = (z / (1 + z2 / n)) * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n));
  return { lower: Math.max(0, centre - half), upper: Math.min(1, centre + half) };
}

/**
 * One-sided confidence bounds for p1 − p2 (p1 = x1/n1, p2 = x2/n2) by Newcombe's hybrid
 * score method (Newcombe 1998, method 10; `newcomb` in statsmodels'
 * confint_proportions_2indep), each bound at `confidence`. Its coverage holds for small
 * samples and for proportions near 0 or 1, where the plain two-proportion Wald interval
 * is too narrow.
 */
export function differenceBounds(
  x1: number,
  n1: number,
  x2: number,
  n2: number,
  confidence: number,
): { difference: number; lower: number; upper: number } {
  const z = normalQuantile(confidence);
  const p1 = n1 > 0 ? x1 / n1 : 0;
  const p2 = n2 > 0 ? x2 / n2 : 0;
  const w1 = wilsonInterval(x1, n1, z);
  const w2 = wilsonInterval(x2, n2, z);
  const difference = p1 - p2;
  return {
    difference,
    lower: difference - Math.sqrt((p1 - w1.lower) ** 2 + (w2.upper - p2) ** 2),
    upper: difference + Math.sqrt((w1.upper - p1) ** 2 + (p2 - w2.lower) ** 2),
  };
}

/** Quantile of the χ² distribution with k degrees of freedom (Wilson–Hilferty; within 1% for k ≥ 3 at the usual levels). */
export function chiSquareQuantile(p: number, k: number): number {
  if (!(k >= 1)) throw new RangeError(`chiSquareQuantile needs k >= 1, got ${k}`);
  const v = 2 / (9 * k);
  return k * Math.max(0, 1 - v + normalQuantile(p) * Math.sqrt(v)) ** 3;
}

/** Pseudo-count added to every bin of a window's score PSI (see windowPsi). */
export const PSI_PSEUDO_COUNT = 0.5;

/**
 * PSI of `actual` against `reference` on the reference's quantile bins, with half a count
 * added to every bin of both. drift-statistics' psiNumeric treats an empty bin as a share
 * of 1e-4, fine for datasets of thousands of rows; in a window of 100 canary scores a bin
 * left empty by chance would add ~0.7 on its own and dominate the PSI. With the half count
 * the PSI of two samples from one distribution follows the χ² approximation below.
 */
export function windowPsi(
  reference: readonly number[],
  actual: readonly number[],
  bins = 10,
): { psi: number; bins: number } {
  const edges = quantileEdges(reference, bins);
  const smoothed = (values: readonly number[]) => {
    const counts = binCounts(values, edges);
    const total = values.length + PSI_PSEUDO_COUNT * counts.length;
    return counts.map((c) => (c + PSI_PSEUDO_COUNT) / total);
  };
  return { psi: psiFromShares(smoothed(reference), smoothed(actual)), bins: edges.length + 1 };
}

/**
 * The PSI that two samples of sizes n and m drawn from ONE distribution exceed with
 * probability 1 − confidence, over `bins` bins. PSI ≈ Σ (a − e)² / e, so n·m/(n+m)·PSI is
 * approximately χ² with bins − 1 degrees of freedom under "no shift": about 0.23 for 100
 * canary scores against 1,900 stable ones at 0.99, 0.02 for 1,000 against 19,000.
 */
export function psiSamplingAllowance(bins: number, n: number, m: number, confidence: number): number {
  if (bins < 2 || n <= 0 || m <= 0) return Number.POSITIVE_INFINITY;
  return chiSquareQuantile(confidence, bins - 1) * (1 / n + 1 / m);
}
