// Compares what the canary served with what the stable version served during the same
// step: error rate, p99 latency, score-distribution shift and, once labels came back,
// accuracy. A check without enough data to judge is left out rather than passed.
import type { CanaryAnalysis } from '../../../tools/ports.js';
import { psiNumeric } from './drift-statistics.js';
import { accuracy, percentile, type VersionWindow } from './serving-stats.js';

export interface CanaryThresholds {
  /** Canary requests a step waits for before it is analysed. */
  minRequestsPerStep: number;
  /** Canary error rate minus stable error rate may be at most this (0.01 = one point). */
  maxErrorRateDelta: number;
  /** Canary p99 latency may be at most this multiple of the stable p99. */
  maxP99LatencyRatio: number;
  /** PSI of the canary's scores against the stable version's scores may be at most this. */
  maxScoreShiftPsi: number;
  /** Canary accuracy minus stable accuracy must be at least this (e.g. -0.02). */
  minAccuracyDelta: number;
  /** How long a step waits for `minRequestsPerStep`. */
  stepTimeoutMs: number;
  /** Labelled predictions each side needs before accuracy is compared (default 50). */
  minLabelsPerStep?: number;
  /** Latencies below this many ms count as this, so sub-millisecond jitter is no regression (default 2). */
  latencyFloorMs?: number;
}

/** Scores each side needs before their distributions are compared. */
const MIN_SCORES = 30;

export function analyseCanary(input: {
  canary: VersionWindow;
  stable: VersionWindow;
  thresholds: CanaryThresholds;
  trafficPercent: number;
  at: string;
}): CanaryAnalysis {
  const { canary, stable, thresholds: t } = input;
  const checks: CanaryAnalysis['checks'] = [];

  checks.push({
    check: 'canary_requests',
    canary: canary.requests,
    stable: stable.requests,
    threshold: t.minRequestsPerStep,
    passed: canary.requests >= t.minRequestsPerStep,
  });

  const rate = (w: VersionWindow) => (w.requests === 0 ? 0 : w.errors / w.requests);
  const canaryRate = rate(canary);
  const stableRate = rate(stable);
  checks.push({
    check: 'error_rate',
    canary: canaryRate,
    stable: stableRate,
    threshold: t.maxErrorRateDelta,
    passed: canaryRate - stableRate <= t.maxErrorRateDelta,
  });

  if (canary.latenciesMs.length > 0 && stable.latenciesMs.length > 0) {
    const floor = t.latencyFloorMs ?? 2;
    const canaryP99 = percentile(canary.latenciesMs, 0.99);
    const stableP99 = percentile(stable.latenciesMs, 0.99);
    checks.push({
      check: 'p99_latency_ratio',
      canary: canaryP99,
      stable: stableP99,
      threshold: t.maxP99LatencyRatio,
      passed: Math.max(canaryP99, floor) <= t.maxP99LatencyRatio * Math.max(stableP99, floor),
    });
  }

  if (canary.scores.length >= MIN_SCORES && stable.scores.length >= MIN_SCORES) {
    const psi = psiNumeric(stable.scores, canary.scores);
    checks.push({ check: 'score_psi', canary: psi, stable: 0, threshold: t.maxScoreShiftPsi, passed: psi <= t.maxScoreShiftPsi });
  }

  const minLabels = t.minLabelsPerStep ?? 50;
  if (canary.labelled.length >= minLabels && stable.labelled.length >= minLabels) {
    const canaryAccuracy = accuracy(canary.labelled);
    const stableAccuracy = accuracy(stable.labelled);
    checks.push({
      check: 'accuracy',
      canary: canaryAccuracy,
      stable: stableAccuracy,
      threshold: t.minAccuracyDelta,
      passed: canaryAccuracy - stableAccuracy >= t.minAccuracyDelta,
    });
  }

  return { at: input.at, trafficPercent: input.trafficPercent, passed: checks.every((c) => c.passed), checks };
}

/** True when the only failing check is the traffic count: not enough evidence either way. */
export function lackedTraffic(analysis: CanaryAnalysis): boolean {
  const failed = analysis.checks.filter((c) => !c.passed);
  return failed.length === 1 && failed[0]!.check === 'canary_requests';
}

export function validateThresholds(t: CanaryThresholds): string[] {
  const problems: string[] = [];
  const nonNegative = ['minRequestsPerStep', 'maxErrorRateDelta', 'maxScoreShiftPsi', 'stepTimeoutMs'] as const;
  for (const key of nonNegative) if (!(Number.isFinite(t[key]) && t[key] >= 0)) problems.push(`${key} must be a number >= 0`);
  if (!(Number.isFinite(t.maxP99LatencyRatio) && t.maxP99LatencyRatio >= 1)) problems.push('maxP99LatencyRatio must be a number >= 1');
  if (!(Number.isFinite(t.minAccuracyDelta) && t.minAccuracyDelta <= 0 && t.minAccuracyDelta >= -1)) {
    problems.push('minAccuracyDelta must be between -1 and 0 (the largest accuracy drop tolerated, negative)');
  }
  return problems;
}
