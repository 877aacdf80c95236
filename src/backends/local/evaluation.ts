// The metrics a trained model is judged by, and the quality gates built on them.
import { performance } from 'node:perf_hooks';
import type { QualityGateResult } from '../../../tools/ports.js';
import { UserError } from '../../errors.js';
import type { CreditRow } from './credit-schema.js';
import { score, type ModelArtifact } from './model-artifact.js';

/** Scores at or above this are flagged as likely defaults (declined or sent to review). */
export const DECISION_THRESHOLD = 0.5;

function checkLengths(a: ArrayLike<unknown>, b: ArrayLike<unknown>, what: string): void {
  if (a.length !== b.length) throw new UserError(`${what}: ${a.length} scores but ${b.length} labels`);
  if (a.length === 0) throw new UserError(`${what}: no rows to evaluate`);
}

/** AUC-ROC as the Mann-Whitney statistic: tied scores share their average rank. */
export function auc(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  checkLengths(scores, labels, 'auc');
  const order = Array.from({ length: scores.length }, (_, i) => i).sort((a, b) => scores[a]! - scores[b]!);
  let positives = 0;
  let rankSum = 0;
  for (let i = 0; i < order.length;) {
    let j = i;
    while (j + 1 < order.length && scores[order[j + 1]!] === scores[order[i]!]) j++;
    const averageRank = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) {
      if (labels[order[k]!] === 1) {
        positives++;
        rankSum += averageRank;
      }
    }
    i = j + 1;
  }
  const negatives = order.length - positives;
  if (positives === 0 || negatives === 0)
    throw new UserError('auc: the labels hold only one class, so AUC is undefined');
  return (rankSum - (positives * (positives + 1)) / 2) / (positives * negatives);
}

/**
 * Expected calibration error: scores fall in `bins` equal-width bins over [0, 1]; the
 * gap between mean score and observed default rate in each bin is weighted by its share.
 */
export function expectedCalibrationError(scores: ArrayLike<number>, labels: ArrayLike<number>, bins = 10): number {
  checkLengths(scores, labels, 'calibration error');
  const count = new Float64Array(bins);
  const sumScore = new Float64Array(bins);
  const sumLabel = new Float64Array(bins);
  for (let i = 0; i < scores.length; i++) {
    const b = Math.min(bins - 1, Math.floor(scores[i]! * bins));
    count[b]! += 1;
    sumScore[b]! += scores[i]!;
    sumLabel[b]! += labels[i]!;
  }
  let ece = 0;
  for (let b = 0; b < bins; b++) {
    if (count[b]! > 0) ece += Math.abs(sumScore[b]! - sumLabel[b]!) / scores.length;
  }
  return ece;
}

/**
 * Demographic-parity gap: |P(flagged | A) − P(flagged | B)| at the decision threshold
 * (0.5), the threshold the model server acts on, so the gap is the one applicants see.
 * Rows whose group is neither A nor B are left out.
 */
export function parityGap(
  scores: ArrayLike<number>,
  groups: ArrayLike<unknown>,
  threshold = DECISION_THRESHOLD,
): number {
  checkLengths(scores, groups, 'parity gap');
  const flagged = { A: 0, B: 0 };
  const total = { A: 0, B: 0 };
  for (let i = 0; i < scores.length; i++) {
    const g = groups[i];
    if (g !== 'A' && g !== 'B') continue;
    total[g]++;
    if (scores[i]! >= threshold) flagged[g]++;
  }
  if (total.A === 0 || total.B === 0)
    throw new UserError(`parity gap: needs rows of both groups A and B, got ${total.A} A and ${total.B} B`);
  return Math.abs(flagged.A / total.A - flagged.B / total.B);
}

export function accuracy(scores: ArrayLike<number>, labels: ArrayLike<number>, threshold = DECISION_THRESHOLD): number {
  checkLengths(scores, labels, 'accuracy');
  let right = 0;
  for (let i = 0; i < scores.length; i++) if ((scores[i]! >= threshold ? 1 : 0) === labels[i]) right++;
  return right / scores.length;
}

export function logLoss(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  checkLengths(scores, labels, 'log loss');
  const eps = 1e-15;
  let sum = 0;
  for (let i = 0; i < scores.length; i++) {
    const p = Math.min(1 - eps, Math.max(eps, scores[i]!));
    sum -= labels[i] === 1 ? Math.log(p) : Math.log(1 - p);
  }
  return sum / scores.length;
}

/** Nearest-rank percentile (q in 0..100). */
export function percentile(values: number[], q: number): number {
  if (values.length === 0) throw new UserError('percentile of no values');
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((q / 100) * sorted.length) - 1))]!;
}

/** p99 of single-row score() calls, cycling through `rows` until `calls` are timed. */
export function scoreLatencyP99(artifact: ModelArtifact, rows: CreditRow[], calls = 2000): number {
  if (rows.length === 0) throw new UserError('latency: no rows to score');
  const timings: number[] = [];
  let sink = 0;
  for (let i = 0; i < calls; i++) {
    const t0 = performance.now();
    sink += score(artifact, rows[i % rows.length]!);
    timings.push(performance.now() - t0);
  }
  // Using the sum keeps the engine from dropping the calls as dead code.
  if (Number.isNaN(sink)) throw new Error('score() returned NaN');
  return percentile(timings, 99);
}

/** Each configured gate, judged against the metrics; a missing metric fails its gate. */
/** The offline bars a candidate must clear before it may be registered as deployable. */
export interface QualityGates {
  minAuc: number;
  maxCalibrationError: number;
  maxP99LatencyMs: number;
  /** Demographic-parity gap as a fraction: 0.05 is five points. */
  maxParityGap: number;
}

export function evaluateQualityGates(metrics: Record<string, number>, gates: QualityGates): QualityGateResult[] {
  const specs: [string, number, 'min' | 'max'][] = [
    ['auc', gates.minAuc, 'min'],
    ['calibration_error', gates.maxCalibrationError, 'max'],
    ['p99_latency_ms', gates.maxP99LatencyMs, 'max'],
    ['parity_gap', gates.maxParityGap, 'max'],
  ];
  return specs.map(([gate, threshold, direction]) => {
    const value = metrics[gate];
    const passed =
      value !== undefined && Number.isFinite(value) && (direction === 'min' ? value >= threshold : value <= threshold);
    return { gate, value: value ?? Number.NaN, threshold, direction, passed };
  });
}
