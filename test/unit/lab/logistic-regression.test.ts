import { describe, expect, it } from 'vitest';
import { generateCreditRows } from '../../../src/backends/local/credit-generator.js';
import { auc } from '../../../src/backends/local/evaluation.js';
import { searchCandidates } from '../../../src/backends/local/hyperparameter-search.js';
import {
  DEFAULT_PARAMS,
  encodeRows,
  fitEncoder,
  fitLogisticRegression,
  parseTrainingParams,
  readLabels,
} from '../../../src/backends/local/logistic-regression.js';
import { score } from '../../../src/backends/local/model-artifact.js';
import { UserError } from '../../../src/errors.js';

describe('parseTrainingParams', () => {
  it('fills defaults and keeps the values given', () => {
    expect(parseTrainingParams({ epochs: 5 })).toEqual({ ...DEFAULT_PARAMS, epochs: 5 });
  });

  it('refuses unknown keys, naming the allowed ones', () => {
    expect(() => parseTrainingParams({ learning_rate: 0.1 })).toThrow(
      /unknown training param "learning_rate": allowed are learningRate, l2, epochs, batchSize, seed/,
    );
  });

  it('refuses values of the wrong type or out of range', () => {
    expect(() => parseTrainingParams({ epochs: 2.5 })).toThrow(UserError);
    expect(() => parseTrainingParams({ learningRate: '0.1' })).toThrow(/"learningRate" must be a number/);
    expect(() => parseTrainingParams({ l2: -1 })).toThrow(/"l2"/);
  });
});

describe('logistic regression on credit rows', () => {
  const rows = generateCreditRows({ seed: 3, rows: 3000, startDate: '2025-01-01', days: 30 });
  const labels = readLabels(rows);

  it('encodes rows exactly as score() reads them, missing values imputed', () => {
    const encoder = fitEncoder(rows);
    const artifact = fitLogisticRegression(encoder, encodeRows(encoder, rows), labels, {
      ...DEFAULT_PARAMS,
      epochs: 2,
    });
    expect(encoder.artifact.numericFeatures).not.toContain('protected_group');
    expect(encoder.artifact.categoricalFeatures.map((c) => c.name)).toEqual(['age_band']);
    const x = encodeRows(encoder, rows);
    const withMissing = rows.findIndex((r) => r.income === null);
    expect(withMissing).toBeGreaterThanOrEqual(0);
    for (const i of [0, 1, withMissing]) {
      let z = artifact.bias;
      for (let j = 0; j < encoder.width; j++) z += artifact.weights[j]! * x[i * encoder.width + j]!;
      expect(score(artifact, rows[i]!)).toBeCloseTo(1 / (1 + Math.exp(-z)), 12);
    }
  });

  it('learns a ranking far better than chance, the same way from the same seed', () => {
    const encoder = fitEncoder(rows);
    const x = encodeRows(encoder, rows);
    const a = fitLogisticRegression(encoder, x, labels, DEFAULT_PARAMS);
    const b = fitLogisticRegression(encoder, x, labels, DEFAULT_PARAMS);
    expect(a).toEqual(b);
    expect(
      auc(
        rows.map((r) => score(a, r)),
        labels,
      ),
    ).toBeGreaterThan(0.83);
  });

  it('refuses rows without a 0/1 label and labels of one class', () => {
    expect(() => readLabels([{ default: '1' }, { default: 'yes' }])).toThrow(/row 2 has default="yes"/);
    const encoder = fitEncoder(rows.slice(0, 10));
    expect(() =>
      fitLogisticRegression(encoder, encodeRows(encoder, rows.slice(0, 2)), new Uint8Array([0, 0]), DEFAULT_PARAMS),
    ).toThrow(/only one class/);
  });
});

describe('searchCandidates', () => {
  it('keeps the requested params first and draws the rest within bounds, replayably', () => {
    const candidates = searchCandidates(DEFAULT_PARAMS, 6);
    expect(candidates).toHaveLength(7);
    expect(candidates[0]).toEqual(DEFAULT_PARAMS);
    for (const c of candidates.slice(1)) {
      expect(c.learningRate).toBeGreaterThanOrEqual(DEFAULT_PARAMS.learningRate / 3 - 1e-9);
      expect(c.learningRate).toBeLessThanOrEqual(DEFAULT_PARAMS.learningRate * 3 + 1e-9);
      expect(c.epochs).toBeGreaterThanOrEqual(10);
      expect(c.epochs).toBeLessThanOrEqual(40);
    }
    expect(searchCandidates(DEFAULT_PARAMS, 6)).toEqual(candidates);
    expect(() => searchCandidates(DEFAULT_PARAMS, -1)).toThrow(/searchTrials/);
  });
});
