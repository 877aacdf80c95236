import { appendFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateCreditRows } from '../../../src/backends/local/credit-generator.js';
import { CREDIT_COLUMNS } from '../../../src/backends/local/credit-schema.js';
import { createLocalDataQuality } from '../../../src/backends/local/data-quality.js';
import { writeDataset } from '../../../src/backends/local/dataset-store.js';
import { loadContracts } from '../../../src/contracts/index.js';
import { defaultContractFiles } from '../../../src/paths.js';
import { dataQualityContract } from '../../contract/data-quality.contract.js';

dataQualityContract('local lab', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'lab-dq-contract-'));
  const datasetsDir = join(dir, 'datasets');
  const reference = generateCreditRows({ seed: 7, rows: 3000, startDate: '2025-01-01', days: 90 });
  const recent = generateCreditRows({ seed: 9, rows: 1500, startDate: '2025-04-01', days: 30 });
  await writeDataset(datasetsDir, 'credit-train', reference);
  await writeDataset(datasetsDir, 'credit-recent', recent);
  await writeDataset(
    datasetsDir,
    'credit-no-debt-ratio',
    recent,
    CREDIT_COLUMNS.map((c) => c.name).filter((c) => c !== 'debt_ratio'),
  );
  await writeDataset(
    datasetsDir,
    'credit-missing-income',
    recent.map((r, i) => (i % 10 === 0 ? { ...r, income: null } : r)),
  );
  await writeDataset(
    datasetsDir,
    'credit-bad-utilization',
    recent.map((r, i) => (i % 100 === 0 ? { ...r, credit_utilization: 7 } : r)),
  );
  await writeDataset(datasetsDir, 'credit-duplicated', [...recent, ...recent.slice(0, 20)]);
  const drifted = generateCreditRows({
    seed: 11,
    rows: 1500,
    startDate: '2025-04-01',
    days: 30,
    drift: { incomeShift: 0.5 },
  });
  await writeDataset(datasetsDir, 'credit-drifted', drifted);
  return {
    dataQuality: createLocalDataQuality({
      datasetsDir,
      checksDir: join(dir, 'data-checks'),
      contracts: await loadContracts(defaultContractFiles),
      // Within the credit contract's freshness (180 days) of the newest application.
      clock: { now: () => Date.parse('2025-06-01T00:00:00Z') },
    }),
    reference: 'credit-train',
    clean: 'credit-recent',
    withoutColumn: { dataset: 'credit-no-debt-ratio', column: 'debt_ratio' },
    withMissingValues: { dataset: 'credit-missing-income', column: 'income' },
    withOutOfRange: { dataset: 'credit-bad-utilization', column: 'credit_utilization' },
    withDuplicates: 'credit-duplicated',
    drifted: { dataset: 'credit-drifted', column: 'income' },
    changeContent: async (dataset) => {
      const [row] = generateCreditRows({ seed: 99, rows: 1, startDate: '2025-04-30', days: 1 });
      await appendFile(
        join(datasetsDir, `${dataset}.csv`),
        `${CREDIT_COLUMNS.map((c) => row![c.name] ?? '').join(',')}\n`,
      );
    },
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
});
