import { describe, expect, it } from 'vitest';
import {
  analyseCanary,
  validateThresholds,
  type CanaryThresholds,
} from '../../../src/backends/local/canary-analysis.js';
import { createRandom } from '../../../src/backends/local/random.js';
import type { VersionWindow } from '../../../src/backends/local/serving-stats.js';

const THRESHOLDS: CanaryThresholds = {
  minRequestsPerStep: 100,
  maxErrorRateDelta: 0.01,
  maxP99LatencyRatio: 3,
  maxScoreShiftPsi: 0.25,
  minAccuracyDelta: -0.03,
  stepTimeoutMs: 60_000,
  latencyFloorMs: 25,
};

/** A window of `requests` requests, `errors` of them failed, scored `scores` and labelled so that `correct` of `labelled` are right. */
function window(options: {
  requests: number;
  errors?: number;
  scores?: number[];
  labelled?: number;
  correct?: number;
}): VersionWindow {
  const { requests, errors = 0, labelled = 0, correct = 0 } = options;
  const scores = options.scores ?? Array.from({ length: requests - errors }, (_, i) => (i + 0.5) / (requests - errors));
  return {
    requests,
    errors,
    latenciesMs: new Array<number>(requests).fill(0.2),
    scores,
    rows: [],
    // A score of 0.9 says "default": right when the label is 1, wrong when it is 0.
    labelled: Array.from({ length: labelled }, (_, i) => ({ score: 0.9, label: i < correct ? 1 : 0 })),
  };
}

const analyse = (canary: VersionWindow, stable: VersionWindow, thresholds: Partial<CanaryThresholds> = {}) =>
  analyseCanary({
    canary,
    stable,
    thresholds: { ...THRESHOLDS, ...thresholds },
    trafficPercent: 5,
    at: '2026-01-01T00:00:00.000Z',
  });
const check = (analysis: ReturnType<typeof analyse>, name: string) => analysis.checks.find((c) => c.check === name);

describe('canary analysis with sample-size-aware checks', () => {
  it('passes a canary 5 points less accurate on 100 labels: that much is sampling noise', () => {
    // Upper 99% bound of 0.80 − 0.85 over 100 and 1,900 labels (Newcombe): +0.029, above −0.03.
    const a = analyse(
      window({ requests: 100, labelled: 100, correct: 80 }),
      window({ requests: 1900, labelled: 1900, correct: 1615 }),
    );
    expect(check(a, 'accuracy')).toEqual({
      check: 'accuracy',
      canary: 0.8,
      stable: 0.85,
      threshold: -0.03,
      passed: true,
      bound: expect.closeTo(0.029113775446722057, 9),
      samples: { canary: 100, stable: 1900 },
    });
    expect(a.passed).toBe(true);
  });

  it('fails a canary 15 points less accurate on 300 labels, naming the accuracy check', () => {
    // Upper 99% bound of 0.70 − 0.85 over 300 and 2,000 labels: −0.089, below −0.03.
    const a = analyse(
      window({ requests: 300, labelled: 300, correct: 210 }),
      window({ requests: 2000, labelled: 2000, correct: 1700 }),
    );
    expect(check(a, 'accuracy')).toMatchObject({ passed: false, bound: expect.closeTo(-0.08922042975589513, 9) });
    expect(a.passed).toBe(false);
    expect(a.checks.filter((c) => !c.passed).map((c) => c.check)).toEqual(['accuracy']);
  });

  it('compares accuracy only once both sides have minLabelsPerStep labels', () => {
    const a = analyse(
      window({ requests: 100, labelled: 49, correct: 0 }),
      window({ requests: 1900, labelled: 1900, correct: 1900 }),
    );
    expect(check(a, 'accuracy')).toBeUndefined();
  });

  it('lets 2 failed requests in 100 pass and fails 5 in 100, when the stable version failed none', () => {
    const stable = window({ requests: 1900 });
    const two = analyse(window({ requests: 100, errors: 2 }), stable);
    expect(check(two, 'error_rate')).toMatchObject({
      canary: 0.02,
      stable: 0,
      threshold: 0.01,
      passed: true,
      bound: expect.closeTo(0.004216479696447541, 9),
    });
    const five = analyse(window({ requests: 100, errors: 5 }), stable);
    expect(check(five, 'error_rate')).toMatchObject({
      canary: 0.05,
      passed: false,
      bound: expect.closeTo(0.01845508354591023, 9),
    });
    // A canary that fails every request fails however small the window.
    expect(check(analyse(window({ requests: 10, errors: 10 }), stable), 'error_rate')!.passed).toBe(false);
  });

  it('discounts the score PSI that sampling alone produces, and still fails a large shift', () => {
    const stable = window({ requests: 1900 });
    const same = analyse(window({ requests: 100 }), stable);
    expect(check(same, 'score_psi')).toMatchObject({
      threshold: 0.25,
      passed: true,
      samples: { canary: 100, stable: 1900 },
    });
    expect(check(same, 'score_psi')!.bound).toBeLessThan(0);
    // Every canary score in the stable version's top decile.
    const shifted = analyse(
      window({ requests: 100, scores: Array.from({ length: 100 }, (_, i) => 0.95 + i / 2000) }),
      stable,
    );
    const psi = check(shifted, 'score_psi')!;
    expect(psi.passed).toBe(false);
    expect(psi.canary).toBeGreaterThan(1);
    expect(psi.bound).toBeCloseTo(psi.canary - 0.22838531908708878, 9);
  });

  it('fails an identical canary in under 1% of seeded windows, and a much worse one in most', () => {
    const random = createRandom(42);
    // Scores and outcomes as the lab's credit model gives them: the label is drawn from the score.
    const draw = (n: number, worse: boolean): VersionWindow => {
      const scores = Array.from({ length: n }, () => 1 / (1 + Math.exp(-(random.normal() * 1.6 - 2))));
      const labelled = scores.map((score) => {
        const label: 0 | 1 = random.next() < score ? 1 : 0;
        // The worse canary answers the opposite of the truth for three applicants in ten.
        return { score: worse && random.next() < 0.3 ? 1 - score : score, label };
      });
      return { requests: n, errors: 0, latenciesMs: new Array<number>(n).fill(0.2), scores, rows: [], labelled };
    };
    let identicalFails = 0;
    let worseFails = 0;
    const windows = 300;
    for (let i = 0; i < windows; i++) {
      if (!analyse(draw(100, false), draw(1900, false)).passed) identicalFails++;
      if (!analyse(draw(100, true), draw(1900, false)).passed) worseFails++;
    }
    expect(identicalFails / windows).toBeLessThan(0.01);
    expect(worseFails / windows).toBeGreaterThan(0.5);
  });

  it('refuses a confidence outside 0.5..1', () => {
    expect(validateThresholds({ ...THRESHOLDS, confidence: 1 })).toEqual([
      'confidence must be at least 0.5 and below 1 (e.g. 0.99)',
    ]);
    expect(validateThresholds({ ...THRESHOLDS, confidence: 0.95 })).toEqual([]);
  });
});
