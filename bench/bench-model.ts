// The model the serving benches load, trained on generated credit rows written to `dir`
// with gates that pass anything (the benches measure serving, not the model); the rows
// are the request bodies.
import { generateCreditRows } from '../src/backends/local/credit-generator.js';
import { writeDataset } from '../src/backends/local/dataset-store.js';
import { runTrainingPipeline } from '../src/backends/local/training-pipeline.js';

export async function trainBenchModel(dir: string) {
  const rows = generateCreditRows({ seed: 1, rows: 3000, startDate: '2025-01-01', days: 90 });
  await writeDataset(dir, 'credit-train', rows);
  const gates = { minAuc: 0, maxCalibrationError: 1, maxP99LatencyMs: 1000, maxParityGap: 1 };
  const { artifact } = await runTrainingPipeline(
    {
      datasetsDir: dir,
      dataset: 'credit-train',
      params: {},
      searchTrials: 0,
      gates,
      contract: null,
      nowMs: Date.now(),
    },
    () => undefined,
  );
  return { artifact, rows };
}
