// A lab with real parts for the serving tests: a registry on disk holding a model trained
// by the real training pipeline, plus deliberately broken versions.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Clock } from '../../../src/clock.js';
import { generateCreditRows } from '../../../src/backends/local/credit-generator.js';
import type { CreditRow } from '../../../src/backends/local/credit-schema.js';
import { writeDataset } from '../../../src/backends/local/dataset-store.js';
import type { ModelArtifact } from '../../../src/backends/local/model-artifact.js';
import { createLocalRegistry, type LocalRegistry } from '../../../src/backends/local/registry.js';
import { runTrainingPipeline, type TrainingOutcome } from '../../../src/backends/local/training-pipeline.js';

export const MODEL = 'credit-risk';
const LENIENT_GATES = { minAuc: 0.6, maxCalibrationError: 0.2, maxP99LatencyMs: 1000, maxParityGap: 0.2 };

export interface Lab {
  dir: string;
  datasetsDir: string;
  registry: LocalRegistry;
  trainRows: CreditRow[];
  /** Fresh rows from the same process, for serving. */
  servingRows: CreditRow[];
  outcome: TrainingOutcome;
  register(artifact: ModelArtifact, options?: { promotable?: boolean }): Promise<string>;
  cleanup(): Promise<void>;
}

// Training once per test file keeps the suite fast; each test still gets its own directory.
let trained: Promise<{ trainRows: CreditRow[]; outcome: TrainingOutcome; dir: string }> | undefined;

export async function createLab(clock: Clock): Promise<Lab> {
  const dir = await mkdtemp(join(tmpdir(), 'lab-serving-'));
  const datasetsDir = join(dir, 'datasets');
  const trainRows = generateCreditRows({ seed: 7, rows: 3000, startDate: '2025-01-01', days: 90 });
  await writeDataset(datasetsDir, 'credit-train', trainRows);
  trained ??= (async () => {
    const trainDir = await mkdtemp(join(tmpdir(), 'lab-serving-train-'));
    await writeDataset(join(trainDir, 'datasets'), 'credit-train', trainRows);
    const outcome = await runTrainingPipeline(
      {
        datasetsDir: join(trainDir, 'datasets'),
        dataset: 'credit-train',
        params: {},
        searchTrials: 0,
        gates: LENIENT_GATES,
        contract: null,
        nowMs: Date.now(),
      },
      () => undefined,
    );
    return { trainRows, outcome, dir: trainDir };
  })();
  const { outcome } = await trained;
  const registry = createLocalRegistry({ dir: join(dir, 'registry'), clock });
  await registry.createModel(MODEL, 'probability of default');
  const register = async (artifact: ModelArtifact, options: { promotable?: boolean } = {}) => {
    const promotable = options.promotable ?? true;
    const version = await registry.registerVersion({
      model: MODEL,
      dataset: 'credit-train',
      dataVersion: outcome.dataVersion,
      params: {},
      metrics: outcome.metrics,
      codeVersion: null,
      trainingJobId: null,
      createdBy: 'test',
      qualityGates: promotable
        ? outcome.qualityGates
        : [{ gate: 'auc', value: 0.5, threshold: 0.82, direction: 'min', passed: false }],
      artifact,
    });
    return version.version;
  };
  return {
    dir,
    datasetsDir,
    registry,
    trainRows,
    servingRows: generateCreditRows({ seed: 8, rows: 2000, startDate: '2025-04-01', days: 30 }),
    outcome,
    register,
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}

/** Removes the shared training directory; call from afterAll. */
export async function cleanupTraining(): Promise<void> {
  if (!trained) return;
  const { dir } = await trained;
  trained = undefined;
  await rm(dir, { recursive: true, force: true });
}

/** The same model with every score pushed towards default: wrong, and visibly so. */
export function shiftedArtifact(artifact: ModelArtifact, biasShift = 2.5): ModelArtifact {
  return { ...artifact, bias: artifact.bias + biasShift };
}

/**
 * The same model, except that it fills a missing income with 0 instead of the training
 * median (a `fillna(0)` slipped into an export). On complete rows it scores exactly as the
 * original; once upstream stops sending income it calls nearly everyone a defaulter.
 */
export function fragileArtifact(artifact: ModelArtifact): ModelArtifact {
  const income = artifact.numericFeatures.indexOf('income');
  if (income < 0) throw new Error('the artifact has no income feature');
  return { ...artifact, imputation: artifact.imputation.map((value, i) => (i === income ? 0 : value)) };
}

/** Rows as an upstream sends them after it stopped filling in income. */
export function withoutIncome(rows: CreditRow[]): CreditRow[] {
  return rows.map((row) => ({ ...row, income: null }));
}

/** An artifact whose export lost its weights: every score is NaN, so every request fails. */
export function brokenArtifact(artifact: ModelArtifact): ModelArtifact {
  return { ...artifact, weights: [] };
}
