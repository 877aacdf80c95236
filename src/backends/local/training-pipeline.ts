// One training job from dataset to judged model: read, split (seeded), search, fit,
// evaluate on the held-out test split, apply the quality gates. Runs inside the worker.
import { performance } from 'node:perf_hooks';
import type { ParamValue, QualityGateResult } from '../../../tools/ports.js';
import type { DataContract } from '../../contracts/index.js';
import { UserError } from '../../errors.js';
import { columnSpecs } from './contract-columns.js';
import { PROTECTED_COLUMN, type CreditRow } from './credit-schema.js';
import { readDataset } from './dataset-store.js';
import {
  accuracy,
  auc,
  evaluateQualityGates,
  type QualityGates,
  expectedCalibrationError,
  logLoss,
  parityGap,
  scoreLatencyP99,
} from './evaluation.js';
import { searchCandidates } from './hyperparameter-search.js';
import {
  encodeRows,
  fitEncoder,
  fitLogisticRegression,
  parseTrainingParams,
  readLabels,
  type TrainingParams,
} from './logistic-regression.js';
import { score, type ModelArtifact } from './model-artifact.js';
import { createRandom, shuffledIndices } from './random.js';
import { signalRows, trainSignalModel } from './signal-model.js';

export const TEST_FRACTION = 0.3;
export const VALIDATION_FRACTION = 0.15;
export const MIN_TRAINING_ROWS = 100;
const LATENCY_CALLS = 2000;

export interface TrainingInput {
  datasetsDir: string;
  dataset: string;
  params: Record<string, ParamValue>;
  searchTrials: number;
  gates: QualityGates;
  /**
   * The dataset's data contract: training refuses data that breaks any of its hard rules.
   * The trainer always passes one; null (no check) is for benchmarks of the pipeline itself.
   */
  contract: DataContract | null;
  /** The trainer's clock, for the contract's freshness rule. */
  nowMs: number;
  /**
   * The data version a stored report already passed under `contract` (the trainer looked
   * it up): that exact content is not checked again. Other content always is.
   */
  checkedVersion?: string | null;
}

export interface TrialRecord {
  trial: number;
  params: TrainingParams;
  validationAuc: number;
}

export interface TrainingOutcome {
  dataVersion: string;
  /** The winning trial's params. */
  params: TrainingParams;
  trials: TrialRecord[];
  metrics: Record<string, number>;
  qualityGates: QualityGateResult[];
  artifact: ModelArtifact;
}

interface Split {
  rows: CreditRow[];
  labels: Uint8Array;
}

function pick(rows: CreditRow[], labels: Uint8Array, indices: number[]): Split {
  return { rows: indices.map((i) => rows[i]!), labels: Uint8Array.from(indices, (i) => labels[i]!) };
}

function requireBothClasses(split: Split, name: string, dataset: string): void {
  const positives = split.labels.reduce((s, v) => s + v, 0);
  if (positives === 0 || positives === split.labels.length) {
    throw new UserError(
      `dataset "${dataset}": the ${name} split (${split.labels.length} rows) holds only one class; use more rows or a dataset with both 0 and 1 labels`,
    );
  }
}

function scoreAll(artifact: ModelArtifact, rows: CreditRow[]): Float64Array {
  return Float64Array.from(rows, (row) => score(artifact, row));
}

/** The top-of-book columns the signal reads. */
const BOOK_COLUMNS = ['bid', 'ask', 'bid_size', 'ask_size'];

function trainSignal(
  dataVersion: string,
  quotes: CreditRow[],
  base: TrainingParams,
  started: number,
  onProgress: (progress: number) => void,
): TrainingOutcome {
  const trained = trainSignalModel(signalRows(quotes), base.seed);
  onProgress(0.95);
  const params = parseTrainingParams(trained.params);
  return {
    dataVersion,
    params,
    // One fit, no search: the signal has no validation split to choose between trials on.
    trials: [],
    metrics: { ...trained.metrics, duration_ms: Math.round(performance.now() - started) },
    qualityGates: trained.gates,
    artifact: trained.artifact,
  };
}

export async function runTrainingPipeline(
  input: TrainingInput,
  onProgress: (progress: number) => void,
): Promise<TrainingOutcome> {
  const started = performance.now();
  const base = parseTrainingParams(input.params);
  const candidates = searchCandidates(base, input.searchTrials);
  const data = await readDataset(
    input.datasetsDir,
    input.dataset,
    input.contract ? columnSpecs(input.contract) : undefined,
  );
  if (input.contract && data.dataVersion !== input.checkedVersion) {
    // Loaded only here: CEL takes a few hundred ms to load in a fresh worker thread.
    const { checkContract, refuseBrokenData } = await import('./contract-checks.js');
    refuseBrokenData(input.contract, input.dataset, checkContract(input.contract, data, input.nowMs));
  }
  // Quotes train the lab's second kind of model, the trading signal, judged by its own gate.
  if (!data.header.includes('default') && BOOK_COLUMNS.every((c) => data.header.includes(c)))
    return trainSignal(data.dataVersion, data.rows, base, started, onProgress);
  if (!data.header.includes('default'))
    throw new UserError(
      `dataset "${input.dataset}" has no "default" column (the credit label) nor bid/ask quote columns: the lab's trainer trains on one of the two`,
    );
  if (data.rows.length < MIN_TRAINING_ROWS) {
    throw new UserError(
      `dataset "${input.dataset}" has ${data.rows.length} rows: training needs at least ${MIN_TRAINING_ROWS}`,
    );
  }
  const labels = readLabels(data.rows);
  onProgress(0.05);

  const order = shuffledIndices(data.rows.length, createRandom(base.seed));
  const testCount = Math.round(data.rows.length * TEST_FRACTION);
  const validationCount = Math.round(data.rows.length * VALIDATION_FRACTION);
  const test = pick(data.rows, labels, order.slice(0, testCount));
  const validation = pick(data.rows, labels, order.slice(testCount, testCount + validationCount));
  const train = pick(data.rows, labels, order.slice(testCount + validationCount));
  requireBothClasses(train, 'training', input.dataset);
  requireBothClasses(validation, 'validation', input.dataset);
  requireBothClasses(test, 'test', input.dataset);

  const encoder = fitEncoder(train.rows);
  const x = encodeRows(encoder, train.rows);
  const totalEpochs = candidates.reduce((n, c) => n + c.epochs, 0);
  let epochsDone = 0;
  const trials: TrialRecord[] = [];
  let best: { artifact: ModelArtifact; trial: TrialRecord } | undefined;
  candidates.forEach((params, i) => {
    const artifact = fitLogisticRegression(encoder, x, train.labels, params, () => {
      epochsDone++;
      onProgress(0.05 + 0.85 * (epochsDone / totalEpochs));
    });
    const trial = { trial: i + 1, params, validationAuc: auc(scoreAll(artifact, validation.rows), validation.labels) };
    trials.push(trial);
    if (!best || trial.validationAuc > best.trial.validationAuc) best = { artifact, trial };
  });
  const winner = best!;

  const testScores = scoreAll(winner.artifact, test.rows);
  const groups = test.rows.map((r) => r[PROTECTED_COLUMN]);
  const metrics: Record<string, number> = {
    auc: auc(testScores, test.labels),
    calibration_error: expectedCalibrationError(testScores, test.labels, 10),
    parity_gap: parityGap(testScores, groups),
    accuracy: accuracy(testScores, test.labels),
    log_loss: logLoss(testScores, test.labels),
    validation_auc: winner.trial.validationAuc,
  };
  onProgress(0.95);
  metrics.p99_latency_ms = scoreLatencyP99(winner.artifact, test.rows, LATENCY_CALLS);
  metrics.train_rows = train.rows.length;
  metrics.validation_rows = validation.rows.length;
  metrics.test_rows = test.rows.length;
  metrics.duration_ms = Math.round(performance.now() - started);
  return {
    dataVersion: data.dataVersion,
    params: winner.trial.params,
    trials,
    metrics,
    qualityGates: evaluateQualityGates(metrics, input.gates),
    artifact: winner.artifact,
  };
}
