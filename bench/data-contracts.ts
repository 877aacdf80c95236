// What data contracts cost, each against a baseline measured in the same run:
// (a) checking the credit contract against reading the dataset it needs (CSV parse, sha256),
// (b) check_data_quality on content already checked (a lookup) against a fresh check,
// (c) a training job on content a stored report passed (nothing checked again) against one
//     on content never checked, whose worker thread loads CEL and checks the contract itself.
// Run: npm run bench:contracts
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateCreditRows } from '../src/backends/local/credit-generator.js';
import { checkContract, columnSpecs } from '../src/backends/local/contract-checks.js';
import { createDataCheckStore } from '../src/backends/local/data-check-store.js';
import { createLocalDataQuality } from '../src/backends/local/data-quality.js';
import { readDataset, writeDataset } from '../src/backends/local/dataset-store.js';
import { createLocalRegistry } from '../src/backends/local/registry.js';
import { createLocalTrainer } from '../src/backends/local/trainer.js';
import { loadContracts } from '../src/contracts/index.js';
import { defaultContractFiles } from '../src/paths.js';

const clock = { now: () => Date.now() };
const daysAgo = (d: number) => new Date(Date.now() - d * 86_400_000).toISOString().slice(0, 10);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function timeMs(fn: () => Promise<unknown> | unknown): Promise<number> {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'mlops-bench-contracts-'));
  try {
    const contracts = await loadContracts(defaultContractFiles);
    const credit = contracts.forDataset('credit-x')!;
    const datasets = join(dir, 'datasets');

    console.log('(a) credit contract check vs reading the data, median of 7');
    for (const rows of [4_000, 40_000]) {
      await writeDataset(
        datasets,
        `credit-${rows}`,
        generateCreditRows({ seed: 1, rows, startDate: daysAgo(30), days: 30 }),
      );
      const data = await readDataset(datasets, `credit-${rows}`, columnSpecs(credit));
      checkContract(credit, data, Date.now()); // warm: CEL planning and JIT
      const reads: number[] = [];
      const checks: number[] = [];
      for (let i = 0; i < 7; i++) {
        reads.push(await timeMs(() => readDataset(datasets, `credit-${rows}`, columnSpecs(credit))));
        checks.push(await timeMs(() => checkContract(credit, data, Date.now())));
      }
      const [r, c] = [median(reads), median(checks)];
      console.log(
        `  ${String(rows).padStart(6)} rows: read ${r.toFixed(1)} ms, check ${c.toFixed(1)} ms (${Math.round((rows / c) * 1000).toLocaleString('en')} rows/s), check/read ${(c / r).toFixed(2)}x`,
      );
    }

    console.log('(b) check_data_quality on 4,000 rows: fresh vs looked up, median of 7');
    await writeDataset(
      datasets,
      'credit-train',
      generateCreditRows({ seed: 2, rows: 6_000, startDate: daysAgo(200), days: 180 }),
    );
    const fresh: number[] = [];
    const lookedUp: number[] = [];
    for (let i = 0; i < 7; i++) {
      const dq = createLocalDataQuality({
        datasetsDir: datasets,
        checksDir: join(dir, `checks-${i}`),
        contracts,
        clock,
      });
      fresh.push(await timeMs(() => dq.check('credit-4000')));
      lookedUp.push(await timeMs(() => dq.check('credit-4000')));
    }
    console.log(
      `  fresh ${median(fresh).toFixed(1)} ms, looked up ${median(lookedUp).toFixed(1)} ms: ${(median(lookedUp) / median(fresh)).toFixed(3)}x`,
    );

    console.log('(c) a lab training job on 4,000 rows (4 trials, worker thread), median of 5');
    const registry = createLocalRegistry({ dir: join(dir, 'registry'), clock });
    const checks = join(dir, 'checks-train');
    const trainer = createLocalTrainer({
      registry,
      datasetsDir: datasets,
      jobsDir: join(dir, 'jobs'),
      clock,
      gates: { minAuc: 0.5, maxCalibrationError: 1, maxP99LatencyMs: 1000, maxParityGap: 1 },
      contracts,
      dataChecks: createDataCheckStore(checks),
    });
    await writeDataset(
      datasets,
      'credit-checked',
      generateCreditRows({ seed: 3, rows: 4_000, startDate: daysAgo(30), days: 30 }),
    );
    await writeDataset(
      datasets,
      'credit-unchecked',
      generateCreditRows({ seed: 3, rows: 4_000, startDate: daysAgo(31), days: 30 }),
    );
    await createLocalDataQuality({ datasetsDir: datasets, checksDir: checks, contracts, clock }).check(
      'credit-checked',
    );
    const train = async (dataset: string, seed: number) => {
      const job = await trainer.start({ model: 'm', dataset, params: { seed }, searchTrials: 4, requestedBy: 'bench' });
      const done = await trainer.waitFor(job.jobId, { timeoutMs: 120_000 });
      if (done.status !== 'succeeded') throw new Error(`${dataset}: ${done.error}`);
    };
    const checked: number[] = [];
    const unchecked: number[] = [];
    for (let i = 0; i < 5; i++) {
      checked.push(await timeMs(() => train('credit-checked', i)));
      unchecked.push(await timeMs(() => train('credit-unchecked', i)));
    }
    await trainer.close();
    const [a, b] = [median(checked), median(unchecked)];
    console.log(
      `  report on the content: ${a.toFixed(0)} ms; never checked (the worker checks): ${b.toFixed(0)} ms: ${(b / a).toFixed(2)}x`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
