// Fits the lab's model: logistic regression on standardised, median-imputed numerics and
// one-hot categoricals, trained by mini-batch Adam with L2. The encoding here must match
// `score()` in model-artifact.ts exactly, so the served model sees what training saw.
import { UserError } from '../../errors.js';
import { CREDIT_COLUMNS, LABEL_COLUMN, type ColumnSpec, type CreditRow } from './credit-schema.js';
import type { ModelArtifact } from './model-artifact.js';
import { createRandom, shuffledIndices } from './random.js';

export interface TrainingParams {
  learningRate: number;
  l2: number;
  epochs: number;
  batchSize: number;
  seed: number;
}

export const DEFAULT_PARAMS: TrainingParams = { learningRate: 0.05, l2: 0.001, epochs: 20, batchSize: 64, seed: 42 };

const PARAM_RULES: Record<keyof TrainingParams, { integer: boolean; min: number; max: number }> = {
  learningRate: { integer: false, min: 1e-7, max: 10 },
  l2: { integer: false, min: 0, max: 100 },
  epochs: { integer: true, min: 1, max: 1000 },
  batchSize: { integer: true, min: 1, max: 100_000 },
  seed: { integer: true, min: 0, max: 2 ** 32 - 1 },
};

/** Validates request params (unknown keys are refused) and fills defaults. */
export function parseTrainingParams(params: Record<string, unknown>): TrainingParams {
  const allowed = Object.keys(PARAM_RULES);
  const unknown = Object.keys(params).filter((k) => !allowed.includes(k));
  if (unknown.length > 0) {
    throw new UserError(
      `unknown training param${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `"${k}"`).join(', ')}: allowed are ${allowed.join(', ')}`,
    );
  }
  const out: TrainingParams = { ...DEFAULT_PARAMS };
  for (const [key, rule] of Object.entries(PARAM_RULES) as [
    keyof TrainingParams,
    (typeof PARAM_RULES)[keyof TrainingParams],
  ][]) {
    const value = params[key];
    if (value === undefined) continue;
    if (
      typeof value !== 'number' ||
      !Number.isFinite(value) ||
      (rule.integer && !Number.isInteger(value)) ||
      value < rule.min ||
      value > rule.max
    ) {
      throw new UserError(
        `training param "${key}" must be ${rule.integer ? 'an integer' : 'a number'} in ${rule.min}..${rule.max}, got ${JSON.stringify(value)}`,
      );
    }
    out[key] = value;
  }
  return out;
}

/** Labelled rows: every row must carry default 0 or 1. */
export function readLabels(rows: CreditRow[]): Uint8Array {
  const labels = new Uint8Array(rows.length);
  rows.forEach((row, i) => {
    const v = row[LABEL_COLUMN];
    if (v === '1' || v === 1) labels[i] = 1;
    else if (v !== '0' && v !== 0) {
      throw new UserError(
        `row ${i + 1} has ${LABEL_COLUMN}=${JSON.stringify(v ?? null)}: every training row needs a label of 0 or 1`,
      );
    }
  });
  return labels;
}

export interface Encoder {
  artifact: Omit<ModelArtifact, 'weights' | 'bias'>;
  width: number;
}

/** Learns imputation (median) and standardisation from the training rows only. */
export function fitEncoder(rows: CreditRow[], columns: ColumnSpec[] = CREDIT_COLUMNS): Encoder {
  const numeric = columns.filter((c) => c.feature && (c.type === 'number' || c.type === 'integer')).map((c) => c.name);
  const categorical = columns
    .filter((c) => c.feature && c.type === 'category')
    .map((c) => ({ name: c.name, levels: [...(c.values ?? [])] }));
  const imputation: number[] = [];
  const mean: number[] = [];
  const std: number[] = [];
  for (const name of numeric) {
    const present = rows
      .map((r) => r[name])
      .filter((v): v is number => typeof v === 'number' && Number.isFinite(v))
      .sort((a, b) => a - b);
    const median = present.length === 0 ? 0 : present[Math.floor(present.length / 2)]!;
    let sum = 0;
    let sumSq = 0;
    for (const r of rows) {
      const v = r[name];
      const x = typeof v === 'number' && Number.isFinite(v) ? v : median;
      sum += x;
      sumSq += x * x;
    }
    const m = rows.length ? sum / rows.length : 0;
    const variance = rows.length ? sumSq / rows.length - m * m : 0;
    imputation.push(median);
    mean.push(m);
    // A constant column carries no signal; std 1 keeps score() free of division by zero.
    std.push(variance > 1e-12 ? Math.sqrt(variance) : 1);
  }
  const width = numeric.length + categorical.reduce((n, c) => n + c.levels.length, 0);
  return {
    artifact: {
      kind: 'logistic_regression',
      schemaVersion: 1,
      numericFeatures: numeric,
      categoricalFeatures: categorical,
      imputation,
      mean,
      std,
    },
    width,
  };
}

/** Row-major design matrix, encoded the way score() encodes a row. */
export function encodeRows(encoder: Encoder, rows: CreditRow[]): Float64Array {
  const { artifact, width } = encoder;
  const x = new Float64Array(rows.length * width);
  rows.forEach((row, r) => {
    let j = r * width;
    artifact.numericFeatures.forEach((name, i) => {
      const v = row[name];
      const raw = typeof v === 'number' && Number.isFinite(v) ? v : artifact.imputation[i]!;
      x[j++] = (raw - artifact.mean[i]!) / artifact.std[i]!;
    });
    for (const feature of artifact.categoricalFeatures) {
      for (const level of feature.levels) x[j++] = row[feature.name] === level ? 1 : 0;
    }
  });
  return x;
}

/**
 * Trains on an encoded matrix. `onEpoch(epoch)` is called after each epoch (1-based).
 * The bias starts at the log-odds of the base rate, so early epochs are spent on the
 * features rather than on finding the average.
 */
export function fitLogisticRegression(
  encoder: Encoder,
  x: Float64Array,
  y: Uint8Array,
  params: TrainingParams,
  onEpoch?: (epoch: number) => void,
): ModelArtifact {
  const n = y.length;
  const d = encoder.width;
  if (n === 0) throw new UserError('cannot train on zero rows');
  const positives = y.reduce((s, v) => s + v, 0);
  if (positives === 0 || positives === n)
    throw new UserError(
      `training rows hold only one class (${positives} of ${n} defaults): the label needs both 0 and 1`,
    );
  const weights = new Float64Array(d);
  const base = positives / n;
  let bias = Math.log(base / (1 - base));
  // Adam state; index d is the bias.
  const m = new Float64Array(d + 1);
  const v = new Float64Array(d + 1);
  const grad = new Float64Array(d + 1);
  const beta1 = 0.9;
  const beta2 = 0.999;
  const eps = 1e-8;
  let step = 0;
  const random = createRandom(params.seed);
  for (let epoch = 1; epoch <= params.epochs; epoch++) {
    const order = shuffledIndices(n, random);
    for (let start = 0; start < n; start += params.batchSize) {
      const end = Math.min(n, start + params.batchSize);
      grad.fill(0);
      for (let k = start; k < end; k++) {
        const r = order[k]!;
        const row = r * d;
        let z = bias;
        for (let j = 0; j < d; j++) z += weights[j]! * x[row + j]!;
        const err = 1 / (1 + Math.exp(-z)) - y[r]!;
        for (let j = 0; j < d; j++) grad[j] = grad[j]! + err * x[row + j]!;
        grad[d] = grad[d]! + err;
      }
      const size = end - start;
      step++;
      const c1 = 1 - beta1 ** step;
      const c2 = 1 - beta2 ** step;
      for (let j = 0; j <= d; j++) {
        // L2 on the weights only: penalising the bias would pull predictions off the base rate.
        const g = grad[j]! / size + (j < d ? params.l2 * weights[j]! : 0);
        m[j] = beta1 * m[j]! + (1 - beta1) * g;
        v[j] = beta2 * v[j]! + (1 - beta2) * g * g;
        const delta = (params.learningRate * (m[j]! / c1)) / (Math.sqrt(v[j]! / c2) + eps);
        if (j < d) weights[j] = weights[j]! - delta;
        else bias -= delta;
      }
    }
    onEpoch?.(epoch);
  }
  return { ...encoder.artifact, weights: Array.from(weights), bias };
}
