// Compares a shadow with the stable version on the requests mirrored to it: both scored the
// same rows, so their scores are compared row for row (mean difference, agreement) and as
// distributions (PSI with the sampling allowance a canary's has), their accuracy on the rows
// whose labels came back, and the shadow's errors and p99 latency with the stable version's
// over the same time. It uses the canary's checks and thresholds; what differs is the
// verdict: too little mirrored traffic is `inconclusive`, never a pass.
import type { CanaryCheck, ShadowAnalysis } from '../../../tools/ports.js';
import {
  accuracyCheck,
  DEFAULT_CONFIDENCE,
  errorRateCheck,
  p99LatencyCheck,
  scoreShiftCheck,
  type CanaryThresholds,
} from './canary-analysis.js';
import { type ShadowWindow, type VersionWindow } from './serving-stats.js';

/** Scores each side needs before their distributions are compared (as for a canary). */
export const MIN_SHADOW_SCORES = 30;

/** Mean of (shadow − stable) over paired scores; null when there are none. */
export function meanScoreDelta(scores: readonly number[], stableScores: readonly number[]): number | null {
  const n = Math.min(scores.length, stableScores.length);
  if (n === 0) return null;
  let sum = 0;
  for (let i = 0; i < n; i++) sum += scores[i]! - stableScores[i]!;
  return sum / n;
}

/** Share of paired rows on which both sides decide alike at `threshold`; null when there are none. */
export function agreement(scores: readonly number[], stableScores: readonly number[], threshold = 0.5): number | null {
  const n = Math.min(scores.length, stableScores.length);
  if (n === 0) return null;
  let same = 0;
  for (let i = 0; i < n; i++) if (scores[i]! >= threshold === stableScores[i]! >= threshold) same++;
  return same / n;
}

export function analyseShadow(input: {
  shadow: ShadowWindow;
  /** What the stable version served over the same time (for error rate and latency). */
  stable: VersionWindow;
  stableVersion: string;
  thresholds: CanaryThresholds;
  at: string;
}): ShadowAnalysis {
  const { shadow, stable, thresholds: t } = input;
  const confidence = t.confidence ?? DEFAULT_CONFIDENCE;
  const checks: CanaryCheck[] = [];
  const enoughRequests = shadow.requests >= t.minRequestsPerStep;
  checks.push({
    check: 'shadow_requests',
    canary: shadow.requests,
    stable: stable.requests,
    threshold: t.minRequestsPerStep,
    passed: enoughRequests,
  });
  if (shadow.requests > 0) {
    const asWindow: VersionWindow = {
      requests: shadow.requests,
      errors: shadow.errors,
      latenciesMs: shadow.latenciesMs,
      scores: [],
      rows: [],
      labelled: [],
    };
    checks.push(errorRateCheck(asWindow, stable, t.maxErrorRateDelta, confidence));
  }
  const latency = p99LatencyCheck(shadow.latenciesMs, stable.latenciesMs, t);
  if (latency) checks.push(latency);
  const scored = shadow.scores.length >= MIN_SHADOW_SCORES;
  if (scored) checks.push(scoreShiftCheck(shadow.scores, shadow.stableScores, t.maxScoreShiftPsi, confidence));
  const minLabels = t.minLabelsPerStep ?? 50;
  const labelled = shadow.labelled.length;
  if (labelled >= minLabels) {
    checks.push(
      accuracyCheck(
        shadow.labelled.map(({ score, label }) => ({ score, label })),
        shadow.labelled.map(({ stableScore, label }) => ({ score: stableScore, label })),
        t.minAccuracyDelta,
        confidence,
      ),
    );
  }

  const failed = checks.filter((c) => !c.passed && c.check !== 'shadow_requests').map((c) => c.check);
  const accuracyNote =
    labelled >= minLabels ? 'accuracy compared' : `accuracy not judged yet: ${labelled} of ${minLabels} labels back`;
  let verdict: ShadowAnalysis['verdict'];
  let reason: string;
  if (failed.length > 0) {
    // The error-rate, score and accuracy checks allow for sample size: a failure is evidence even in a short window.
    verdict = 'failed';
    reason = `the shadow is worse than stable v${input.stableVersion}: ${failed.join(', ')}`;
  } else if (!enoughRequests || !scored) {
    verdict = 'inconclusive';
    reason = `too little mirrored traffic to judge: ${shadow.requests} of ${t.minRequestsPerStep} requests${scored ? '' : `, ${shadow.scores.length} of ${MIN_SHADOW_SCORES} scores`}; ${accuracyNote}`;
  } else {
    verdict = 'passed';
    reason = `no check failed against stable v${input.stableVersion} over ${shadow.requests} mirrored requests; ${accuracyNote}`;
  }
  return {
    at: input.at,
    stableVersion: input.stableVersion,
    verdict,
    reason,
    mirroredRequests: shadow.requests,
    meanScoreDelta: meanScoreDelta(shadow.scores, shadow.stableScores),
    agreement: agreement(shadow.scores, shadow.stableScores),
    labelled,
    checks,
  };
}
