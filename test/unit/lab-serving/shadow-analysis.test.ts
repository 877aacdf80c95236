import { describe, expect, it } from 'vitest';
import type { CanaryThresholds } from '../../../src/backends/local/canary-analysis.js';
import { createRandom } from '../../../src/backends/local/random.js';
import type { ShadowWindow, VersionWindow } from '../../../src/backends/local/serving-stats.js';
import { agreement, analyseShadow, meanScoreDelta } from '../../../src/backends/local/shadow-analysis.js';
import { createServingStats } from '../../../src/backends/local/serving-stats.js';
import { createTrafficRouter } from '../../../src/backends/local/traffic-router.js';
import type { TrafficSplit } from '../../../tools/ports.js';

const THRESHOLDS: CanaryThresholds = {
  minRequestsPerStep: 100,
  maxErrorRateDelta: 0.01,
  maxP99LatencyRatio: 3,
  maxScoreShiftPsi: 0.25,
  minAccuracyDelta: -0.03,
  stepTimeoutMs: 60_000,
  latencyFloorMs: 25,
  minLabelsPerStep: 50,
};

/** The stable version's scores on `n` rows, spread over 0..1. */
const stableScores = (n: number, seed = 1) => {
  const random = createRandom(seed);
  return Array.from({ length: n }, () => random.next());
};

function shadowWindow(options: {
  stable: number[];
  /** The shadow's score on a row, from the stable version's. */
  score: (stableScore: number, i: number) => number;
  errors?: number;
  /** Labelled rows (the first n), each with its label from the row's index. */
  labelled?: number;
  label?: (i: number, stableScore: number) => 0 | 1;
}): ShadowWindow {
  const { stable, score, errors = 0, labelled = 0 } = options;
  const scores = stable.map(score);
  const label = options.label ?? ((_i: number, s: number) => (s >= 0.5 ? 1 : 0));
  return {
    requests: stable.length + errors,
    errors,
    latenciesMs: new Array<number>(stable.length + errors).fill(0.3),
    scores,
    stableScores: stable,
    labelled: stable.slice(0, labelled).map((s, i) => ({ score: scores[i]!, stableScore: s, label: label(i, s) })),
  };
}

const served = (requests: number, errors = 0): VersionWindow => ({
  requests,
  errors,
  latenciesMs: new Array<number>(requests).fill(0.3),
  scores: [],
  rows: [],
  labelled: [],
});

const analyse = (shadow: ShadowWindow, stable = served(shadow.requests * 9)) =>
  analyseShadow({ shadow, stable, stableVersion: '1', thresholds: THRESHOLDS, at: '2026-01-01T00:00:00.000Z' });

describe('the shadow analysis', () => {
  it('pairs scores row by row: mean difference and agreement of decisions', () => {
    expect(meanScoreDelta([0.6, 0.2, 0.9], [0.5, 0.3, 0.7])).toBeCloseTo((0.1 - 0.1 + 0.2) / 3, 12);
    // Decisions at 0.5: alike on rows 1 and 3, not on row 2.
    expect(agreement([0.6, 0.2, 0.9], [0.5, 0.6, 0.7])).toBeCloseTo(2 / 3, 12);
    expect(meanScoreDelta([], [])).toBeNull();
    expect(agreement([], [])).toBeNull();
  });

  it('is inconclusive, never passed, with too little mirrored traffic, and says how much it had', () => {
    const stable = stableScores(40);
    const a = analyse(shadowWindow({ stable, score: (s) => s }));
    expect(a.verdict).toBe('inconclusive');
    expect(a.reason).toMatch(/too little mirrored traffic to judge: 40 of 100 requests/);
    expect(a.checks.find((c) => c.check === 'shadow_requests')).toMatchObject({ canary: 40, passed: false });
    const none = analyse(shadowWindow({ stable: [], score: (s) => s }), served(0));
    expect(none).toMatchObject({ verdict: 'inconclusive', mirroredRequests: 0, meanScoreDelta: null, agreement: null });
  });

  it('passes a shadow that scores like the stable version, and says accuracy waits for labels', () => {
    const stable = stableScores(400);
    const random = createRandom(9);
    const a = analyse(
      shadowWindow({ stable, score: (s) => Math.min(1, Math.max(0, s + (random.next() - 0.5) * 0.02)) }),
    );
    expect(a.verdict).toBe('passed');
    expect(a.reason).toMatch(/accuracy not judged yet: 0 of 50 labels back/);
    expect(Math.abs(a.meanScoreDelta!)).toBeLessThan(0.01);
    expect(a.agreement!).toBeGreaterThan(0.95);
    expect(a.checks.map((c) => c.check)).toEqual(['shadow_requests', 'error_rate', 'p99_latency_ratio', 'score_psi']);
  });

  it('fails a shadow whose scores moved, beyond what sampling explains', () => {
    const stable = stableScores(400);
    const a = analyse(shadowWindow({ stable, score: (s) => Math.min(1, s * 0.3 + 0.6) }));
    expect(a.verdict).toBe('failed');
    expect(a.reason).toMatch(/score_psi/);
    expect(a.meanScoreDelta!).toBeGreaterThan(0.2);
  });

  it('compares accuracy on the same labelled rows once enough labels came back', () => {
    const stable = stableScores(400);
    // Labels that stable gets right on every row; the shadow inverts its decision on every other row.
    const a = analyse(shadowWindow({ stable, score: (s, i) => (i % 2 === 0 ? 1 - s : s), labelled: 200 }));
    const accuracy = a.checks.find((c) => c.check === 'accuracy')!;
    expect(accuracy).toMatchObject({ stable: 1, passed: false, samples: { canary: 200, stable: 200 } });
    expect(accuracy.canary).toBeCloseTo(0.5, 1);
    expect(a).toMatchObject({ verdict: 'failed', labelled: 200 });
    const same = analyse(shadowWindow({ stable, score: (s) => s, labelled: 200 }));
    expect(same.verdict).toBe('passed');
    expect(same.reason).toMatch(/accuracy compared/);
    expect(same.checks.find((c) => c.check === 'accuracy')).toMatchObject({ canary: 1, stable: 1, passed: true });
  });

  it('fails a shadow that errors where the stable version does not', () => {
    const stable = stableScores(300);
    const a = analyse(shadowWindow({ stable, score: (s) => s, errors: 100 }), served(3000));
    expect(a.verdict).toBe('failed');
    expect(a.reason).toMatch(/error_rate/);
  });
});

describe('mirroring in the router and the stats', () => {
  const split: TrafficSplit = {
    model: 'm',
    environment: 'production',
    stableVersion: '1',
    canaryVersion: '2',
    canaryPercent: 10,
    lastKnownGoodVersion: '1',
  };

  it('mirrors only requests the stable version answers, two shadows at one share on the same requests', () => {
    const random = createRandom(3);
    const router = createTrafficRouter({
      splits: {
        currentSplit: () => split,
        currentShadows: () => [
          { version: '3', mirrorPercent: 20 },
          { version: '4', mirrorPercent: 20 },
          { version: '1', mirrorPercent: 100 },
        ],
      },
      random: () => random.next(),
    });
    let mirrored = 0;
    let stable = 0;
    for (let i = 0; i < 5000; i++) {
      const route = router.route('m', 'production')!;
      if (route.role === 'canary') expect(route.mirrors).toEqual([]);
      else {
        stable++;
        // The stable version is never its own shadow; both candidates or neither.
        expect([[], ['3', '4']]).toContainEqual(route.mirrors);
        if (route.mirrors.length > 0) mirrored++;
      }
    }
    expect(mirrored / stable).toBeGreaterThan(0.17);
    expect(mirrored / stable).toBeLessThan(0.23);
  });

  it('keeps shadow scores apart from what versions served, paired with stable, and labels them with the served id', () => {
    let now = 1000;
    const stats = createServingStats({ clock: { now: () => now } });
    const row = { income: 1 } as never;
    stats.recordRequest({
      model: 'm',
      environment: 'production',
      version: '1',
      ok: true,
      latencyMs: 1,
      predictions: [{ id: 'p1', score: 0.7, row }],
    });
    now = 1001;
    stats.recordShadow({
      model: 'm',
      environment: 'production',
      version: '3',
      ok: true,
      latencyMs: 1,
      predictions: [{ servedId: 'p1', score: 0.4, stableVersion: '1', stableScore: 0.7 }],
    });
    // A shadow does not serve: the served window of its version stays empty.
    expect(stats.window('m', 'production', '3').requests).toBe(0);
    expect(stats.recordFeedback('p1', 1)).toBe('recorded');
    expect(stats.window('m', 'production', '1').labelled).toEqual([{ score: 0.7, label: 1 }]);
    expect(stats.shadowWindow('m', 'production', '3', '1')).toMatchObject({
      requests: 1,
      scores: [0.4],
      stableScores: [0.7],
      labelled: [{ score: 0.4, stableScore: 0.7, label: 1 }],
    });
    // Pairs with another stable version are not compared with this one.
    expect(stats.shadowWindow('m', 'production', '3', '5').scores).toEqual([]);
    expect(stats.recordFeedback('p1', 1)).toBe('duplicate');
  });

  it('gives a shadow the label that came back before it scored its copy', () => {
    const stats = createServingStats({ clock: { now: () => 5 } });
    stats.recordRequest({
      model: 'm',
      environment: 'production',
      version: '1',
      ok: true,
      latencyMs: 1,
      predictions: [{ id: 'p9', score: 0.2, row: {} as never }],
    });
    stats.recordFeedback('p9', 0);
    stats.recordShadow({
      model: 'm',
      environment: 'production',
      version: '3',
      ok: true,
      latencyMs: 1,
      predictions: [{ servedId: 'p9', score: 0.1, stableVersion: '1', stableScore: 0.2 }],
    });
    expect(stats.shadowWindow('m', 'production', '3', '1').labelled).toEqual([
      { score: 0.1, stableScore: 0.2, label: 0 },
    ]);
  });
});
