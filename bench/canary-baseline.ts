// The canary analysis as it was before its checks allowed for sample size (main at
// d41c6f6): raw error-rate delta, raw accuracy delta and raw score PSI against their
// thresholds. Kept only so bench/canary-analysis.ts measures the old behaviour in the
// same run as the new; nothing in src/ uses it.
import type { CanaryAnalysis } from '../tools/ports.js';
import type { CanaryThresholds } from '../src/backends/local/canary-analysis.js';
import { psiNumeric } from '../src/backends/local/drift-statistics.js';
import { accuracy, percentile, type VersionWindow } from '../src/backends/local/serving-stats.js';

/** Scores each side needs before their distributions are compared. */
const MIN_SCORES = 30;

export function analyseCanaryBaseline(input: {
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
    checks.push({
      check: 'score_psi',
      canary: psi,
      stable: 0,
      threshold: t.maxScoreShiftPsi,
      passed: psi <= t.maxScoreShiftPsi,
    });
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
