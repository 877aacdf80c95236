// The trained model as stored on disk and loaded by the model server: a standardised,
// one-hot-encoded logistic regression. Scoring is pure and fast (no allocation per row
// beyond the input).
import type { CreditRow } from './credit-schema.js';

export interface ModelArtifact {
  kind: 'logistic_regression';
  schemaVersion: 1;
  /** Numeric input columns, in weight order. */
  numericFeatures: string[];
  /** Categorical input columns and their levels; each level is one 0/1 input after the numerics. */
  categoricalFeatures: { name: string; levels: string[] }[];
  /** Per numeric feature: value used when missing, and the standardisation. */
  imputation: number[];
  mean: number[];
  std: number[];
  weights: number[];
  bias: number;
}

/** Probability of default for one row. */
export function score(model: ModelArtifact, row: CreditRow): number {
  let z = model.bias;
  let w = 0;
  for (let i = 0; i < model.numericFeatures.length; i++) {
    const raw = row[model.numericFeatures[i]!];
    const x = typeof raw === 'number' && Number.isFinite(raw) ? raw : model.imputation[i]!;
    z += model.weights[w++]! * ((x - model.mean[i]!) / model.std[i]!);
  }
  for (const feature of model.categoricalFeatures) {
    const value = row[feature.name];
    for (const level of feature.levels) {
      if (value === level) z += model.weights[w]!;
      w++;
    }
  }
  return 1 / (1 + Math.exp(-z));
}
