import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateCreditRows } from '../../../src/backends/local/credit-generator.js';
import { CREDIT_COLUMNS } from '../../../src/backends/local/credit-schema.js';
import { createLocalDataQuality } from '../../../src/backends/local/data-quality.js';
import { writeDataset } from '../../../src/backends/local/dataset-store.js';
import { dataQualityContract } from '../../contract/data-quality.contract.js';

dataQualityContract('local lab', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'lab-dq-contract-'));
  const datasetsDir = join(dir, 'datasets');
  const reference = generateCreditRows({ seed: 7, rows: 3000, startDate: '2025-01-01', days: 90 });
  const recent = generateCreditRows({ seed: 9, rows: 1500, startDate: '2025-04-01', days: 30 });
  await writeDataset(datasetsDir, 'credit-train', reference);
  await writeDataset(datasetsDir, 'credit-recent', recent);
  await writeDataset(datasetsDir, 'no-debt-ratio', recent, CREDIT_COLUMNS.map((c) => c.name).filter((c) => c !== 'debt_ratio'));
  await writeDataset(datasetsDir, 'missing-income', recent.map((r, i) => (i % 10 === 0 ? { ...r, income: null } : r)));
  await writeDataset(datasetsDir, 'bad-utilization', recent.map((r, i) => (i % 100 === 0 ? { ...r, credit_utilization: 7 } : r)));
  await writeDataset(datasetsDir, 'duplicated', [...recent, ...recent.slice(0, 20)]);
  const drifted = generateCreditRows({ seed: 11, rows: 1500, startDate: '2025-04-01', days: 30, drift: { incomeShift: 0.5 } });
  await writeDataset(datasetsDir, 'credit-drifted', drifted);
  return {
    dataQuality: createLocalDataQuality({ datasetsDir, defaultReference: 'credit-train' }),
    reference: 'credit-train',
    clean: 'credit-recent',
    withoutColumn: { dataset: 'no-debt-ratio', column: 'debt_ratio' },
    withMissingValues: { dataset: 'missing-income', column: 'income' },
    withOutOfRange: { dataset: 'bad-utilization', column: 'credit_utilization' },
    withDuplicates: 'duplicated',
    drifted: { dataset: 'credit-drifted', column: 'income' },
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
});
