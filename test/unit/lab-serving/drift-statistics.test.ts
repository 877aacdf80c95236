import { describe, expect, it } from 'vitest';
import {
  binShares,
  klFromShares,
  klNumeric,
  ksTest,
  psiCategorical,
  psiFromShares,
  psiNumeric,
  psiSeverity,
  quantileEdges,
} from '../../../src/backends/local/drift-statistics.js';
import { accuracy, percentile } from '../../../src/backends/local/serving-stats.js';

const range = (n: number, f: (i: number) => number = (i) => i) => Array.from({ length: n }, (_, i) => f(i));

describe('drift statistics', () => {
  it('computes PSI of two hand-checked distributions', () => {
    // (0.25-0.5)·ln(0.5) + (0.75-0.5)·ln(1.5)
    expect(psiFromShares([0.5, 0.5], [0.25, 0.75])).toBeCloseTo(0.274653, 5);
  });

  it('treats an empty bin as a share of 1e-4 instead of dividing by zero', () => {
    const psi = psiFromShares([0.5, 0.5], [1, 0]);
    expect(psi).toBeCloseTo(0.5 * Math.log(2) + (1e-4 - 0.5) * Math.log(1e-4 / 0.5), 6);
    expect(Number.isFinite(psi)).toBe(true);
  });

  it('computes KL divergence of two hand-checked distributions', () => {
    // 0.5·ln(0.5/0.25) + 0.5·ln(0.5/0.75)
    expect(klFromShares([0.5, 0.5], [0.25, 0.75])).toBeCloseTo(0.143841, 5);
    expect(klFromShares([0.2, 0.8], [0.2, 0.8])).toBe(0);
  });

  it('places ten reference-quantile bins and counts values into them', () => {
    const edges = quantileEdges(range(100, (i) => i + 1));
    expect(edges).toHaveLength(9);
    expect(edges[0]).toBe(10);
    expect(
      binShares(
        range(100, (i) => i + 1),
        edges,
      ),
    ).toEqual(new Array(10).fill(0.1));
  });

  it('merges tied quantile edges so a mostly-zero count feature gets fewer bins', () => {
    const counts = [...new Array(80).fill(0), ...new Array(15).fill(1), ...new Array(5).fill(3)];
    expect(quantileEdges(counts)).toEqual([0, 1]);
    expect(psiNumeric(counts, counts)).toBe(0);
  });

  it('gives a PSI near zero for the same distribution and over 0.25 for a large shift', () => {
    const reference = range(1000, (i) => Math.sin(i) * 100);
    expect(psiNumeric(reference, reference)).toBe(0);
    const shifted = reference.map((v) => v + 80);
    expect(psiNumeric(reference, shifted)).toBeGreaterThan(0.25);
    expect(psiSeverity(0.05)).toBe('info');
    expect(psiSeverity(0.1)).toBe('warn');
    expect(psiSeverity(0.25)).toBe('alert');
  });

  it('computes PSI over categories, including a category only the new sample has', () => {
    expect(psiCategorical(['a', 'b'], ['a', 'b'])).toBe(0);
    expect(psiCategorical(['a', 'a', 'b', 'b'], ['a', 'b', 'b', 'b'])).toBeCloseTo(0.274653, 5);
    expect(psiCategorical(['a'], ['a', 'c'])).toBeGreaterThan(1);
  });

  it('computes the KS statistic and its asymptotic p-value on hand-checked samples', () => {
    const small = ksTest([1, 2, 3, 4], [3, 4, 5, 6]);
    expect(small.statistic).toBe(0.5);
    // Q((√2 + 0.12 + 0.11/√2)·0.5), summed by hand in Python
    expect(small.pValue).toBeCloseTo(0.534416, 5);
    // scipy.stats.ks_2samp(a, b, method='asymp') gives D = 0.2, p = 0.00172
    const large = ksTest(
      range(200, (i) => i * 0.5),
      range(150, (i) => i * 0.5 + 20),
    );
    expect(large.statistic).toBeCloseTo(0.2, 10);
    expect(large.pValue).toBeGreaterThan(0.00172 * 0.9);
    expect(large.pValue).toBeLessThan(0.00172 * 1.1);
    expect(ksTest([1, 2, 3], [1, 2, 3])).toEqual({ statistic: 0, pValue: 1 });
  });

  it('measures KL of score samples on the reference bins, zero for identical samples', () => {
    const scores = range(500, (i) => (i % 100) / 100);
    expect(klNumeric(scores, scores)).toBe(0);
    expect(
      klNumeric(
        scores,
        scores.map((s) => Math.min(1, s + 0.3)),
      ),
    ).toBeGreaterThan(0.1);
  });

  it('takes nearest-rank percentiles and accuracy at the 0.5 threshold', () => {
    expect(
      percentile(
        range(100, (i) => 100 - i),
        0.99,
      ),
    ).toBe(99);
    expect(percentile([], 0.5)).toBeNaN();
    expect(
      accuracy([
        { score: 0.9, label: 1 },
        { score: 0.2, label: 0 },
        { score: 0.7, label: 0 },
        { score: 0.5, label: 1 },
      ]),
    ).toBe(0.75);
  });
});
