// The lab's data checks against the shipped data contracts: quotes (the trading data kind)
// and credit applications, on real files, with the contract's CEL rules evaluated for real.
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { generateCreditRows } from '../../../src/backends/local/credit-generator.js';
import { createLocalDataQuality } from '../../../src/backends/local/data-quality.js';
import { writeDataset } from '../../../src/backends/local/dataset-store.js';
import type { ModelArtifact } from '../../../src/backends/local/model-artifact.js';
import { generateQuotes, QUOTE_COLUMNS } from '../../../src/backends/local/quotes-generator.js';
import { buildContractSet, loadContracts, type ContractSet } from '../../../src/contracts/index.js';
import { defaultContractFiles } from '../../../src/paths.js';
import type { DataQualityReport } from '../../../tools/ports.js';

const START = '2026-03-02T09:00:00.000Z';
// An hour after the quotes (3 days of freshness allowed), and within 180 days of the credit data.
const NOW = Date.parse('2026-03-02T11:00:00Z');
const rule = (report: DataQualityReport, id: string) => report.violations.find((v) => v.rule === id);

let dir: string;
let shipped: ContractSet;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'lab-dq-'));
  shipped = await loadContracts(defaultContractFiles);
});
afterEach(() => rm(dir, { recursive: true, force: true }));

const dq = (
  options: {
    contracts?: ContractSet;
    now?: number;
    scoreWith?: Parameters<typeof createLocalDataQuality>[0]['scoreWith'];
  } = {},
) =>
  createLocalDataQuality({
    datasetsDir: dir,
    checksDir: join(dir, 'checks'),
    contracts: options.contracts ?? shipped,
    clock: { now: () => options.now ?? NOW },
    scoreWith: options.scoreWith,
  });
const quotes = (name: string, faults: Parameters<typeof generateQuotes>[0]['faults'] = {}, minutes = 60) =>
  writeDataset(dir, name, generateQuotes({ seed: 3, start: START, minutes, faults }), QUOTE_COLUMNS);

describe('the quotes data contract', () => {
  it('passes an hour of clean quotes for three symbols', async () => {
    await quotes('quotes-clean');
    const report = await dq().check('quotes-clean');
    expect(report.violations).toEqual([]);
    expect(report).toMatchObject({
      rows: 3 * 720,
      contract: { name: 'quotes' },
      passed: true,
      verdict: { driftOnly: true },
    });
    // The contract's reference is absent here: drift is not measured, and the report says so.
    expect(report.findings).toEqual([
      expect.objectContaining({ check: 'drift', severity: 'info', message: expect.stringContaining('quotes-history') }),
    ]);
  });

  it('tolerates 2 crossed quotes a minute and fails 5, naming the windows and showing example rows', async () => {
    await quotes('quotes-2-crossed', { crossed: { fromMinute: 10, minutes: 3, perMinute: 2 } });
    expect((await dq().check('quotes-2-crossed')).violations).toEqual([]);

    await quotes('quotes-5-crossed', { crossed: { fromMinute: 10, minutes: 3, perMinute: 5 } });
    const report = await dq().check('quotes-5-crossed');
    const crossed = rule(report, 'crossed-quotes')!;
    // Named as the contracts folder and file, never by absolute path: models and clients read it.
    expect(crossed).toMatchObject({
      severity: 'hard',
      rowsAffected: 15,
      source: expect.stringMatching(/^contracts\/quotes\.yaml:\d+$/),
    });
    expect(crossed.message).toContain('in 3 window(s) of 1m with more than 2');
    const example = crossed.examples[0]!;
    expect(example.values.bid as number).toBeGreaterThan(example.values.ask as number);
    expect(example.values.quote_time).toBe('2026-03-02T09:10:00.000Z');
    expect(report.verdict).toMatchObject({ passed: false, failedChecks: ['crossed-quotes'] });
  });

  it('fails a feed that goes quiet for one symbol for longer than 2 minutes', async () => {
    await quotes('quotes-halted', { halt: { symbol: 'GBPUSD', fromMinute: 20, minutes: 4 } });
    const gap = rule(await dq().check('quotes-halted'), 'quote_time.gaps')!;
    expect(gap).toMatchObject({ severity: 'hard', rowsAffected: 1 });
    expect(gap.examples[0]!.values).toEqual({ symbol: 'GBPUSD', quote_time: '2026-03-02T09:24:00.000Z' });
    expect(gap.message).toContain('the largest is 4.1 min');
  });

  it('fails too many missing quotes, and tolerates a few', async () => {
    await quotes('quotes-few-missing', { missingRate: 0.002 });
    expect((await dq().check('quotes-few-missing')).passed).toBe(true);
    await quotes('quotes-dropping', { missingRate: 0.03 });
    const report = await dq().check('quotes-dropping');
    expect(rule(report, 'bid.nulls')).toMatchObject({ severity: 'hard', column: 'bid' });
    expect(rule(report, 'bid.nulls')!.message).toMatch(/% > the 0\.50% allowed/);
  });

  it('reports a soft rule without failing the data, which is then no longer drift only', async () => {
    const rows = generateQuotes({ seed: 3, start: START, minutes: 10 }).map((r, i) =>
      i === 7 ? { ...r, ask: null } : r,
    );
    await writeDataset(dir, 'quotes-one-sided', rows, QUOTE_COLUMNS);
    const report = await dq().check('quotes-one-sided');
    expect(rule(report, 'one-sided-quote')).toMatchObject({
      severity: 'soft',
      rowsAffected: 1,
      examples: [{ row: 8, values: { bid: rows[7]!.bid, ask: null } }],
    });
    expect(report.verdict).toMatchObject({
      passed: true,
      failedChecks: [],
      softFailures: ['one-sided-quote'],
      driftOnly: false,
    });
  });

  it('judges freshness by the clock: quotes days old break the soft rule', async () => {
    await quotes('quotes-old', {}, 10);
    const report = await dq({ now: NOW + 5 * 86_400_000 }).check('quotes-old');
    expect(rule(report, 'quote_time.freshness')).toMatchObject({ severity: 'soft' });
    expect(rule(report, 'quote_time.freshness')!.message).toMatch(/5\.1 days old \(at most 3d allowed\)/);
  });

  it('reports cells that do not parse as their type, and columns the contract lacks', async () => {
    await writeFile(
      join(dir, 'quotes-typos.csv'),
      `${QUOTE_COLUMNS.join(',')},venue\nEURUSD,2026-03-02T09:00:00Z,1.08,abc,1000,1000,X\nEURUSD,not-a-time,1.08,1.09,1000,1000,X\n${Array.from({ length: 10 }, (_, i) => `GBPUSD,2026-03-02T09:00:${String(i).padStart(2, '0')}Z,1.26,1.27,1,1,X`).join('\n')}\n`,
    );
    const report = await dq().check('quotes-typos');
    expect(rule(report, 'ask.type')).toMatchObject({
      severity: 'hard',
      rowsAffected: 1,
      examples: [{ row: 1, values: { ask: 'abc' } }],
    });
    expect(rule(report, 'quote_time.type')).toMatchObject({ severity: 'hard', rowsAffected: 1 });
    expect(rule(report, 'columns.unexpected')).toMatchObject({
      severity: 'soft',
      message: expect.stringContaining('"venue"'),
    });
  });
});

describe('cross-field rules never pass a row by accident', () => {
  const contract = (when: string) =>
    buildContractSet([
      {
        file: 'odd.yaml',
        text: `apiVersion: mlops-agent/v1\nkind: DataContract\nmetadata: { name: odd }\ndatasets: [quotes-*]\ncolumns:\n  symbol: { type: string }\n  quote_time: { type: timestamp }\n  bid: { type: number, nullable: true }\n  ask: { type: number, nullable: true }\n  bid_size: { type: integer, nullable: true }\n  ask_size: { type: integer, nullable: true }\nrules:\n  - id: odd\n    when: ${JSON.stringify(when)}\n    severity: hard\n    reason: test\n`,
      },
    ]);

  it('counts a non-boolean result and a CEL error (a null in arithmetic) as broken rows', async () => {
    const rows = generateQuotes({ seed: 3, start: START, minutes: 1 }).map((r, i) =>
      i === 3 ? { ...r, bid: null } : r,
    );
    await writeDataset(dir, 'quotes-odd', rows, QUOTE_COLUMNS);
    const sum = rule(await dq({ contracts: contract('row.bid + row.ask') }).check('quotes-odd'), 'odd')!;
    expect(sum.rowsAffected).toBe(rows.length);
    expect(sum.message).toMatch(/could not be evaluated .*not true or false/);
    const arithmetic = rule(await dq({ contracts: contract('row.ask - row.bid > 0.0') }).check('quotes-odd'), 'odd')!;
    expect(arithmetic).toMatchObject({
      rowsAffected: 1,
      examples: [{ row: 4, values: { ask: rows[3]!.ask, bid: null } }],
    });
    expect(arithmetic.message).toMatch(/no matching overload/);
  });
});

describe('the credit data contract', () => {
  beforeEach(async () => {
    await writeDataset(
      dir,
      'credit-train',
      generateCreditRows({ seed: 7, rows: 3000, startDate: '2025-12-01', days: 60 }),
    );
  });

  it('catches income exported in thousands with its range rule and the loan-to-income rule', async () => {
    await writeDataset(
      dir,
      'credit-kusd',
      generateCreditRows({ seed: 9, rows: 1500, startDate: '2026-02-01', days: 28, incomeUnit: 'kusd' }),
    );
    const report = await dq().check('credit-kusd');
    const range = rule(report, 'income.range')!;
    expect(range.rowsAffected).toBeGreaterThan(1450);
    expect(range.examples[0]!.values.income as number).toBeLessThan(1000);
    expect(range.message).toContain('fall outside [1000, 2000000]');
    expect(rule(report, 'loan-within-20x-income')).toMatchObject({ severity: 'hard' });
    expect(report.verdict).toMatchObject({ passed: false, failedChecks: ['income.range', 'loan-within-20x-income'] });
  });

  it('cannot see credit history exported in years: the data passes, and drifts', async () => {
    await writeDataset(
      dir,
      'credit-years',
      generateCreditRows({ seed: 9, rows: 1500, startDate: '2026-02-01', days: 28, historyUnit: 'years' }),
    );
    const report = await dq().check('credit-years');
    expect(report.violations).toEqual([]);
    expect(report.findings.find((f) => f.check === 'psi' && f.column === 'credit_history_months')).toMatchObject({
      severity: 'alert',
    });
    expect(report.verdict).toMatchObject({ passed: true, driftOnly: true, drifted: true });
  });

  it('fails 9% missing incomes, beyond the 2% the contract allows', async () => {
    await writeDataset(
      dir,
      'credit-gaps',
      generateCreditRows({ seed: 9, rows: 1000, startDate: '2026-02-01', days: 28 }).map((r, i) =>
        i % 11 === 0 ? { ...r, income: null } : r,
      ),
    );
    expect(rule(await dq().check('credit-gaps'), 'income.nulls')).toMatchObject({ severity: 'hard', column: 'income' });
  });

  it('fails a dataset no contract covers', async () => {
    await writeDataset(
      dir,
      'loans-recent',
      generateCreditRows({ seed: 9, rows: 200, startDate: '2026-02-01', days: 28 }),
    );
    const report = await dq().check('loans-recent');
    expect(report).toMatchObject({ contract: null, passed: false, verdict: { failedChecks: ['contract.missing'] } });
  });

  it("measures the production model's score drift, and checks again only when that model changes", async () => {
    await writeDataset(
      dir,
      'credit-shifted',
      generateCreditRows({ seed: 9, rows: 1500, startDate: '2026-02-01', days: 28, drift: { utilizationShift: 0.3 } }),
    );
    const champion: ModelArtifact = {
      kind: 'logistic_regression',
      schemaVersion: 1,
      numericFeatures: ['credit_utilization'],
      categoricalFeatures: [],
      imputation: [0.35],
      mean: [0.35],
      std: [0.2],
      weights: [1.5],
      bias: -1.5,
    };
    let serving = '1';
    const checks = dq({
      scoreWith: async (model) => (model === 'credit-risk' ? { version: serving, artifact: champion } : undefined),
    });
    const first = await checks.check('credit-shifted');
    expect(first.findings.find((f) => f.check === 'prediction_kl')).toMatchObject({ severity: 'alert' });
    expect(first.verdict).toMatchObject({ passed: true, drifted: true });
    expect((await checks.check('credit-shifted')).reused).toBe(true);
    // Another lab process reads the same stored report.
    expect(
      (await dq({ scoreWith: async () => ({ version: '1', artifact: champion }) }).check('credit-shifted')).reportHash,
    ).toBe(first.reportHash);
    serving = '2';
    const second = await checks.check('credit-shifted');
    expect(second.reused).toBe(false);
    expect(second.reportHash).not.toBe(first.reportHash);
    const stored = await readdir(join(dir, 'checks', first.dataVersion));
    expect(stored).toHaveLength(2);
  });
});
