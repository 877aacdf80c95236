import { describe, expect, it } from 'vitest';
import {
  accuracy,
  auc,
  evaluateQualityGates,
  expectedCalibrationError,
  logLoss,
  parityGap,
  percentile,
} from '../../../src/backends/local/evaluation.js';
import { UserError } from '../../../src/errors.js';

const gates = { minAuc: 0.82, maxCalibrationError: 0.05, maxP99LatencyMs: 50, maxParityGap: 0.05 };

describe('auc', () => {
  it('is 1 for a perfect ranking and 0 for a reversed one', () => {
    expect(auc([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1])).toBe(1);
    expect(auc([0.9, 0.8, 0.2, 0.1], [0, 0, 1, 1])).toBe(0);
  });

  it('counts the share of positive-negative pairs ranked right, ties as half', () => {
    // Pairs (pos, neg): (0.8,0.1) right, (0.8,0.9) wrong, (0.4,0.1) right, (0.4,0.9) wrong -> 2/4.
    expect(auc([0.1, 0.9, 0.8, 0.4], [0, 0, 1, 1])).toBe(0.5);
    // One tie among four pairs: (0.5,0.5) counts half -> 3.5/4.
    expect(auc([0.2, 0.5, 0.5, 0.9], [0, 0, 1, 1])).toBe(0.875);
  });

  it('refuses labels of a single class', () => {
    expect(() => auc([0.1, 0.2], [1, 1])).toThrow(UserError);
  });
});

describe('expectedCalibrationError', () => {
  it('is zero when each bin’s mean score equals its default rate', () => {
    expect(
      expectedCalibrationError([0.25, 0.25, 0.25, 0.25, 0.75, 0.75, 0.75, 0.75], [1, 0, 0, 0, 1, 1, 1, 0]),
    ).toBeCloseTo(0, 12);
  });

  it('weights each bin’s gap by its share of rows', () => {
    // Bin 0.0-0.1: scores 0.05 x2, labels 1,1 -> gap 0.95, weight 2/4.
    // Bin 0.9-1.0: scores 0.95, 1.0 (1.0 falls in the last bin), labels 0,1 -> mean 0.975 vs 0.5, weight 2/4.
    expect(expectedCalibrationError([0.05, 0.05, 0.95, 1], [1, 1, 0, 1])).toBeCloseTo(0.5 * 0.95 + 0.5 * 0.475, 12);
  });
});

describe('parityGap', () => {
  it('is the difference in flagged rates between groups at threshold 0.5', () => {
    // A: 2 of 4 flagged (0.5 counts as flagged); B: 1 of 4 -> 0.25.
    const scores = [0.5, 0.9, 0.1, 0.2, 0.7, 0.3, 0.1, 0.49];
    const groups = ['A', 'A', 'A', 'A', 'B', 'B', 'B', 'B'];
    expect(parityGap(scores, groups)).toBe(0.25);
    expect(parityGap(scores, groups, 0.05)).toBe(0);
  });

  it('ignores rows without a group and refuses data with one group only', () => {
    expect(parityGap([0.9, 0.1, 0.9], ['A', 'B', null])).toBe(1);
    expect(() => parityGap([0.9, 0.1], ['A', 'A'])).toThrow(/both groups/);
  });
});

describe('accuracy, log loss and percentiles', () => {
  it('computes them on hand-checked inputs', () => {
    expect(accuracy([0.9, 0.2, 0.6, 0.4], [1, 0, 0, 0])).toBe(0.75);
    expect(logLoss([0.5, 0.5], [1, 0])).toBeCloseTo(Math.log(2), 12);
    const values = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(values, 99)).toBe(99);
    expect(percentile(values, 100)).toBe(100);
    expect(percentile([7], 99)).toBe(7);
  });
});

describe('evaluateQualityGates', () => {
  it('passes metrics inside every threshold and names the ones outside', () => {
    const good = evaluateQualityGates(
      { auc: 0.85, calibration_error: 0.02, p99_latency_ms: 0.1, parity_gap: 0.01 },
      gates,
    );
    expect(good.every((g) => g.passed)).toBe(true);
    const bad = evaluateQualityGates(
      { auc: 0.8, calibration_error: 0.02, p99_latency_ms: 60, parity_gap: 0.05 },
      gates,
    );
    expect(bad.filter((g) => !g.passed).map((g) => g.gate)).toEqual(['auc', 'p99_latency_ms']);
    expect(bad.find((g) => g.gate === 'auc')).toEqual({
      gate: 'auc',
      value: 0.8,
      threshold: 0.82,
      direction: 'min',
      passed: false,
    });
  });

  it('fails a gate whose metric is missing', () => {
    expect(evaluateQualityGates({ auc: 0.9 }, gates).filter((g) => !g.passed)).toHaveLength(3);
  });
});
