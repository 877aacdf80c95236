// Hand-checked values: Newcombe's own worked example, and figures computed by hand (in
// Python's statistics.NormalDist and math) from the formulas each function cites.
import { describe, expect, it } from 'vitest';
import {
  chiSquareQuantile,
  differenceBounds,
  normalQuantile,
  psiSamplingAllowance,
  wilsonInterval,
  windowPsi,
} from '../../../src/backends/local/canary-statistics.js';

const range = (n: number, f: (i: number) => number) => Array.from({ length: n }, (_, i) => f(i));

describe('canary statistics', () => {
  it('inverts the standard normal CDF at the usual confidence levels', () => {
    expect(normalQuantile(0.5)).toBeCloseTo(0, 9);
    expect(normalQuantile(0.95)).toBeCloseTo(1.6448536269514715, 8);
    expect(normalQuantile(0.99)).toBeCloseTo(2.3263478740408408, 8);
    expect(normalQuantile(0.999)).toBeCloseTo(3.090232306167813, 8);
    expect(normalQuantile(0.001)).toBeCloseTo(-3.090232306167813, 8);
    expect(() => normalQuantile(1)).toThrow(RangeError);
  });

  it('gives the Wilson interval of 5 failures in 100 requests', () => {
    const { lower, upper } = wilsonInterval(5, 100, normalQuantile(0.99));
    expect(lower).toBeCloseTo(0.018583211652931635, 9);
    expect(upper).toBeCloseTo(0.12762319621249799, 9);
    // No failures still leaves room above zero: 0 of 1,900 does not prove a rate of 0.
    expect(wilsonInterval(0, 1900, normalQuantile(0.99))).toEqual({
      lower: 0,
      upper: expect.closeTo(0.0028402753477459013, 9),
    });
  });

  it("reproduces Newcombe's worked example of the hybrid score interval (56/70 − 48/80: 0.0524 to 0.3339)", () => {
    // Newcombe (1998), Statistics in Medicine 17:873, method 10; a two-sided 95% interval is two one-sided 97.5% bounds.
    const bounds = differenceBounds(56, 70, 48, 80, 0.975);
    expect(bounds.difference).toBeCloseTo(0.2, 12);
    expect(bounds.lower).toBeCloseTo(0.0524, 4);
    expect(bounds.upper).toBeCloseTo(0.3339, 4);
  });

  it('bounds an error-rate difference when the stable version had no errors at all', () => {
    expect(differenceBounds(5, 100, 0, 1900, 0.99).lower).toBeCloseTo(0.01845508354591023, 9);
    expect(differenceBounds(2, 100, 0, 1900, 0.99).lower).toBeCloseTo(0.004216479696447541, 9);
  });

  it('approximates χ² quantiles within 1% of the tables', () => {
    expect(chiSquareQuantile(0.99, 9) / 21.666 - 1).toBeLessThan(0.01);
    expect(Math.abs(chiSquareQuantile(0.95, 9) / 16.919 - 1)).toBeLessThan(0.01);
    expect(Math.abs(chiSquareQuantile(0.99, 4) / 13.277 - 1)).toBeLessThan(0.01);
  });

  it('allows a PSI of 0.23 from sampling alone for 100 canary scores against 1,900, and 0.02 for ten times as many', () => {
    expect(psiSamplingAllowance(10, 100, 1900, 0.99)).toBeCloseTo(0.22838531908708878, 9);
    expect(psiSamplingAllowance(10, 1000, 19000, 0.99)).toBeCloseTo(0.022838531908708878, 9);
    expect(psiSamplingAllowance(1, 100, 100, 0.99)).toBe(Number.POSITIVE_INFINITY);
  });

  it('adds half a count to every bin of a window PSI, so an empty bin is no catastrophe', () => {
    // Reference 1..100: ten bins of ten, shares (10 + 0.5) / 105 = 0.1. Actual 1..20: two
    // bins of ten, shares 10.5 / 25 = 0.42, and eight empty bins at 0.5 / 25 = 0.02.
    const { psi, bins } = windowPsi(
      range(100, (i) => i + 1),
      range(20, (i) => i + 1),
    );
    expect(bins).toBe(10);
    expect(psi).toBeCloseTo(1.9484943601429905, 9);
    const same = range(100, (i) => i + 1);
    expect(windowPsi(same, same).psi).toBe(0);
  });
});
