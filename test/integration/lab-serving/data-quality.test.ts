import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ColumnSpec } from '../../../src/backends/local/credit-schema.js';
import { generateCreditRows } from '../../../src/backends/local/credit-generator.js';
import { createLocalDataQuality } from '../../../src/backends/local/data-quality.js';
import { writeDataset } from '../../../src/backends/local/dataset-store.js';
import type { ModelArtifact } from '../../../src/backends/local/model-artifact.js';
import type { DataQualityReport } from '../../../tools/ports.js';

const TRADE_COLUMNS: ColumnSpec[] = [
  { name: 'trade_id', type: 'string', feature: false, maxMissing: 0 },
  { name: 'time', type: 'date', feature: false, maxMissing: 0 },
  { name: 'bid', type: 'number', feature: true, range: [0, 10_000], maxMissing: 0 },
  { name: 'ask', type: 'number', feature: true, range: [0, 10_000], maxMissing: 0 },
  { name: 'price', type: 'number', feature: true, range: [0, 10_000], maxMissing: 0.01 },
];
const TRADE_NAMES = TRADE_COLUMNS.map((c) => c.name);

function trades(n: number, start = Date.parse('2026-03-02T09:00:00Z')) {
  return Array.from({ length: n }, (_, i) => {
    const mid = 100 + Math.sin(i / 7) * 2;
    return { trade_id: `t${i}`, time: new Date(start + i * 60_000).toISOString(), bid: +(mid - 0.05).toFixed(2), ask: +(mid + 0.05).toFixed(2), price: +mid.toFixed(2) };
  });
}

const RULES = [
  { name: 'bid below ask', expression: 'row.bid <= row.ask' },
  { name: 'price inside spread', expression: 'row.price >= row.bid && row.price <= row.ask' },
];
const nonInfo = (r: DataQualityReport) => r.findings.filter((f) => f.severity !== 'info');

describe('local data quality on a trading-like dataset', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lab-dq-'));
    await writeDataset(dir, 'trades-ref', trades(500), TRADE_NAMES);
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));
  const dq = (extra: { rules?: typeof RULES } = {}) =>
    createLocalDataQuality({ datasetsDir: dir, columns: TRADE_COLUMNS, defaultReference: 'trades-ref', rules: extra.rules ?? RULES, timeWindow: { column: 'time', maxGapMinutes: 5 } });

  it('finds nothing to warn about in clean trades', async () => {
    await writeDataset(dir, 'trades-today', trades(300), TRADE_NAMES);
    const report = await dq().check('trades-today');
    expect(nonInfo(report)).toEqual([]);
    expect(report.passed).toBe(true);
  });

  it('counts the rows that break a CEL rule and names them', async () => {
    const rows = trades(300).map((r, i) => (i === 4 || i === 9 ? { ...r, bid: r.ask + 1 } : r));
    await writeDataset(dir, 'trades-crossed', rows, TRADE_NAMES);
    const report = await dq().check('trades-crossed');
    const bidAsk = report.findings.find((f) => f.check === 'rule' && f.message.includes('bid below ask'))!;
    expect(bidAsk).toMatchObject({ severity: 'alert', value: 2 });
    expect(bidAsk.message).toContain('rows 5, 10');
    expect(report.passed).toBe(false);
  });

  it('treats a CEL evaluation error, a non-boolean result and an unparsable rule as findings, never as passes', async () => {
    const rows = trades(50).map((r, i) => (i === 3 ? { ...r, price: null } : r));
    await writeDataset(dir, 'trades-gappy', rows, TRADE_NAMES);
    const report = await dq({
      rules: [
        { name: 'price inside spread', expression: 'row.price >= row.bid' },
        { name: 'not a bool', expression: 'row.bid + row.ask' },
        { name: 'broken', expression: 'row.bid <= ' },
      ],
    }).check('trades-gappy');
    const rules = report.findings.filter((f) => f.check === 'rule');
    expect(rules.find((f) => f.message.includes('price inside spread'))).toMatchObject({ value: 1, severity: 'alert' });
    expect(rules.find((f) => f.message.includes('not a bool'))).toMatchObject({ value: 50 });
    expect(rules.find((f) => f.message.includes('not a bool'))!.message).toMatch(/not a bool/);
    expect(rules.find((f) => f.message.includes('"broken"'))!.message).toMatch(/does not parse/);
  });

  it('reports a gap in the time column longer than the allowed window', async () => {
    const rows = trades(100).filter((_, i) => i < 40 || i > 52);
    await writeDataset(dir, 'trades-halted', rows, TRADE_NAMES);
    const report = await dq().check('trades-halted');
    const gap = report.findings.find((f) => f.check === 'time_gap')!;
    // Rows 40..52 are gone: 09:39 is followed by 09:53.
    expect(gap).toMatchObject({ column: 'time', value: 14, threshold: 5, severity: 'alert' });
  });

  it('reports cells that do not parse as their column type, and columns outside the schema', async () => {
    await writeFile(join(dir, 'trades-typos.csv'), `${TRADE_NAMES.join(',')},venue\nt1,2026-03-02T09:00:00Z,99.9,100.1,abc,X\nt2,not-a-time,99.9,100.1,100,X\n`);
    const report = await dq({ rules: [] }).check('trades-typos');
    expect(report.findings.find((f) => f.check === 'schema' && f.column === 'price')).toMatchObject({ severity: 'alert', value: 1 });
    expect(report.findings.find((f) => f.check === 'schema' && f.column === 'time')).toMatchObject({ severity: 'alert' });
    expect(report.findings.find((f) => f.check === 'schema' && f.column === 'venue')).toMatchObject({ severity: 'warn' });
  });
});

describe('local data quality drift on credit data', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lab-dq-drift-'));
    await writeDataset(dir, 'credit-train', generateCreditRows({ seed: 7, rows: 3000, startDate: '2025-01-01', days: 90 }));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  // A hand-made champion that leans on utilisation, so shifting utilisation shifts its scores.
  const champion: ModelArtifact = {
    kind: 'logistic_regression', schemaVersion: 1, numericFeatures: ['credit_utilization'], categoricalFeatures: [],
    imputation: [0.35], mean: [0.35], std: [0.2], weights: [1.5], bias: -1.5,
  };

  it('measures KS for numeric features and KL of the champion scores, alerting only on the shifted data', async () => {
    await writeDataset(dir, 'credit-recent', generateCreditRows({ seed: 9, rows: 1500, startDate: '2025-04-01', days: 30 }));
    await writeDataset(dir, 'credit-shifted', generateCreditRows({ seed: 9, rows: 1500, startDate: '2025-04-01', days: 30, drift: { utilizationShift: 0.3 } }));
    const dq = createLocalDataQuality({ datasetsDir: dir, scoreWith: async () => champion });
    const clean = await dq.check('credit-recent');
    expect(clean.findings.find((f) => f.check === 'prediction_kl')!.severity).toBe('info');
    expect(clean.findings.filter((f) => f.check === 'ks').length).toBe(7);
    expect(clean.passed).toBe(true);
    const shifted = await dq.check('credit-shifted');
    expect(shifted.findings.find((f) => f.check === 'prediction_kl')).toMatchObject({ severity: 'alert' });
    expect(shifted.findings.find((f) => f.check === 'ks' && f.column === 'credit_utilization')!.severity).toBe('alert');
    expect(shifted.findings.find((f) => f.check === 'psi' && f.column === 'credit_utilization')!.severity).toBe('alert');
    expect(shifted.findings.find((f) => f.check === 'psi' && f.column === 'income')!.severity).toBe('info');
  });

  it('skips drift with an info finding when the default reference is absent, and measures none against itself', async () => {
    const dq = createLocalDataQuality({ datasetsDir: dir, defaultReference: 'credit-missing' });
    const report = await dq.check('credit-train');
    expect(report.reference).toBeNull();
    expect(report.findings.find((f) => f.check === 'drift')!.severity).toBe('info');
    const self = await createLocalDataQuality({ datasetsDir: dir }).check('credit-train');
    expect(self.reference).toBeNull();
    expect(self.findings.filter((f) => f.check === 'psi')).toEqual([]);
  });
});
