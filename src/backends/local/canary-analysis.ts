// Compares what the canary served with what the stable version served during the same
// window: error rate, p99 latency, score-distribution shift and, once labels came back,
// accuracy. A check without enough data to judge is left out rather than passed. Error
// rate, accuracy and score shift fail only when the evidence shows the canary beyond its
// threshold at `confidence` (canary-statistics.ts): a window of 100 canary requests is
// too small to take the raw numbers at their word.
import type { CanaryAnalysis } from '../../../tools/ports.js';
import { differenceBounds, psiSamplingAllowance, windowPsi } from './canary-statistics.js';
import { accuracy, correctPredictions, percentile, type VersionWindow } from './serving-stats.js';

export interface CanaryThresholds {
  /** Canary requests a step waits for before it is analysed. */
  minRequestsPerStep: number;
  /** Canary error rate minus stable error rate may be at most this (0.01 = one point); fails when the lower confidence bound of the difference is above it. */
  maxErrorRateDelta: number;
  /** Canary p99 latency may be at most this multiple of the stable p99. */
  maxP99LatencyRatio: number;
  /** PSI of the canary's scores against the stable version's may be at most this, beyond what sampling alone produces at `confidence`. */
  maxScoreShiftPsi: number;
  /** Canary accuracy minus stable accuracy must be at least this (e.g. -0.02); fails when the upper confidence bound of the difference is below it. */
  minAccuracyDelta: number;
  /** How long a step waits for `minRequestsPerStep`. */
  stepTimeoutMs: number;
  /** Labelled predictions each side needs before accuracy is compared (default 50). */
  minLabelsPerStep?: number;
  /** Latencies below this many ms count as this, so sub-millisecond jitter is no regression (default 2). */
  latencyFloorMs?: number;
  /** One-sided confidence of the bounds the error-rate, accuracy and score-shift checks decide on (default 0.99). */
  confidence?: number;
}

/** Why 0.99: a step rolls back on ONE failed analysis, so a healthy canary must fail one rarely (see README, canary analysis). */
export const DEFAULT_CONFIDENCE = 0.99;

/** Scores each side needs before their distributions are compared. */
const MIN_SCORES = 30;
/** Reference-quantile bins of the score PSI (fewer when scores tie). */
const SCORE_BINS = 10;

type Check = CanaryAnalysis['checks'][number];

export function analyseCanary(input: {
  canary: VersionWindow;
  stable: VersionWindow;
  thresholds: CanaryThresholds;
  trafficPercent: number;
  at: string;
}): CanaryAnalysis {
  const { canary, stable, thresholds: t } = input;
  const confidence = t.confidence ?? DEFAULT_CONFIDENCE;
  const checks: Check[] = [];

  checks.push({
    check: 'canary_requests',
    canary: canary.requests,
    stable: stable.requests,
    threshold: t.minRequestsPerStep,
    passed: canary.requests >= t.minRequestsPerStep,
  });

  checks.push(errorRateCheck(canary, stable, t.maxErrorRateDelta, confidence));

  const latency = p99LatencyCheck(canary.latenciesMs, stable.latenciesMs, t);
  if (latency) checks.push(latency);

  if (canary.scores.length >= MIN_SCORES && stable.scores.length >= MIN_SCORES) {
    checks.push(scoreShiftCheck(canary.scores, stable.scores, t.maxScoreShiftPsi, confidence));
  }

  const minLabels = t.minLabelsPerStep ?? 50;
  if (canary.labelled.length >= minLabels && stable.labelled.length >= minLabels) {
    checks.push(accuracyCheck(canary.labelled, stable.labelled, t.minAccuracyDelta, confidence));
  }

  return { at: input.at, trafficPercent: input.trafficPercent, passed: checks.every((c) => c.passed), checks };
}

/** Fails when even the lower bound of (canary − stable) error rate exceeds the allowed delta. */
/** The candidate's p99 against stable's, both raised to the floor (below it is jitter); none without latencies on both sides. */
export function p99LatencyCheck(
  candidateMs: readonly number[],
  stableMs: readonly number[],
  t: Pick<CanaryThresholds, 'maxP99LatencyRatio' | 'latencyFloorMs'>,
): CanaryAnalysis['checks'][number] | null {
  if (candidateMs.length === 0 || stableMs.length === 0) return null;
  const floor = t.latencyFloorMs ?? 2;
  const candidateP99 = percentile(candidateMs, 0.99);
  const stableP99 = percentile(stableMs, 0.99);
  return {
    check: 'p99_latency_ratio',
    canary: candidateP99,
    stable: stableP99,
    threshold: t.maxP99LatencyRatio,
    passed: Math.max(candidateP99, floor) <= t.maxP99LatencyRatio * Math.max(stableP99, floor),
  };
}

export function errorRateCheck(
  canary: VersionWindow,
  stable: VersionWindow,
  maxDelta: number,
  confidence: number,
): Check {
  const rate = (w: VersionWindow) => (w.requests === 0 ? 0 : w.errors / w.requests);
  const samples = { canary: canary.requests, stable: stable.requests };
  if (canary.requests === 0 || stable.requests === 0) {
    // Nothing to compare on one side: the request-count check speaks for this window.
    return {
      check: 'error_rate',
      canary: rate(canary),
      stable: rate(stable),
      threshold: maxDelta,
      passed: true,
      samples,
    };
  }
  const { lower } = differenceBounds(canary.errors, canary.requests, stable.errors, stable.requests, confidence);
  return {
    check: 'error_rate',
    canary: rate(canary),
    stable: rate(stable),
    threshold: maxDelta,
    passed: lower <= maxDelta,
    bound: lower,
    samples,
  };
}

/** Fails when even the upper bound of (canary − stable) accuracy is below the allowed delta. */
export function accuracyCheck(
  canary: VersionWindow['labelled'],
  stable: VersionWindow['labelled'],
  minDelta: number,
  confidence: number,
): Check {
  const { upper } = differenceBounds(
    correctPredictions(canary),
    canary.length,
    correctPredictions(stable),
    stable.length,
    confidence,
  );
  return {
    check: 'accuracy',
    canary: accuracy(canary),
    stable: accuracy(stable),
    threshold: minDelta,
    passed: upper >= minDelta,
    bound: upper,
    samples: { canary: canary.length, stable: stable.length },
  };
}

/**
 * PSI of the canary's scores on the stable scores' quantile bins (windowPsi). What two samples of these
 * sizes from one distribution reach at `confidence` is discounted before the threshold is
 * applied, so `maxScoreShiftPsi` keeps its usual meaning (0.1 a shift, 0.25 a large one)
 * whatever the window's size.
 */
export function scoreShiftCheck(
  canary: readonly number[],
  stable: readonly number[],
  maxPsi: number,
  confidence: number,
): Check {
  const { psi, bins } = windowPsi(stable, canary, SCORE_BINS);
  const beyondNoise = psi - psiSamplingAllowance(bins, canary.length, stable.length, confidence);
  return {
    check: 'score_psi',
    canary: psi,
    stable: 0,
    threshold: maxPsi,
    passed: beyondNoise <= maxPsi,
    bound: beyondNoise,
    samples: { canary: canary.length, stable: stable.length },
  };
}

/** True when the only failing check is the traffic count: not enough evidence either way. */
export function lackedTraffic(analysis: CanaryAnalysis): boolean {
  const failed = analysis.checks.filter((c) => !c.passed);
  return failed.length === 1 && failed[0]!.check === 'canary_requests';
}

export function validateThresholds(t: CanaryThresholds): string[] {
  const problems: string[] = [];
  const nonNegative = ['minRequestsPerStep', 'maxErrorRateDelta', 'maxScoreShiftPsi', 'stepTimeoutMs'] as const;
  for (const key of nonNegative)
    if (!(Number.isFinite(t[key]) && t[key] >= 0)) problems.push(`${key} must be a number >= 0`);
  if (!(Number.isFinite(t.maxP99LatencyRatio) && t.maxP99LatencyRatio >= 1))
    problems.push('maxP99LatencyRatio must be a number >= 1');
  if (!(Number.isFinite(t.minAccuracyDelta) && t.minAccuracyDelta <= 0 && t.minAccuracyDelta >= -1)) {
    problems.push('minAccuracyDelta must be between -1 and 0 (the largest accuracy drop tolerated, negative)');
  }
  if (t.confidence !== undefined && !(t.confidence >= 0.5 && t.confidence < 1)) {
    problems.push('confidence must be at least 0.5 and below 1 (e.g. 0.99)');
  }
  return problems;
}
