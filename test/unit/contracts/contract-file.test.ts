import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildContractSet, ContractInvalidError, loadContracts } from '../../../src/contracts/index.js';
import { defaultContractFiles } from '../../../src/paths.js';

const HEAD = 'apiVersion: mlops-agent/v1\nkind: DataContract\nmetadata: { name: quotes }\ndatasets: [quotes-*]\n';
const COLUMNS =
  'columns:\n  quote_time: { type: timestamp }\n  bid: { type: number, nullable: true }\n  ask: { type: number, nullable: true }\n';

/** The issues of a contract text as `line: message`, or [] when it loads. */
function issues(text: string, file = 'c.yaml'): string[] {
  try {
    buildContractSet([{ file, text }]);
    return [];
  } catch (err) {
    if (!(err instanceof ContractInvalidError)) throw err;
    expect(err.code).toBe('contract_invalid');
    return err.issues.map((i) => `${i.file}:${i.line}: ${i.message}`);
  }
}

describe('data contract files', () => {
  it('loads the shipped contracts, with every rule where it is written', async () => {
    const set = await loadContracts(defaultContractFiles);
    expect(set.contracts.map((c) => c.name)).toEqual(['credit', 'quotes']);
    const credit = set.forDataset('credit-recent')!;
    expect(credit.columns.find((c) => c.name === 'income')).toMatchObject({
      type: 'number',
      nullable: true,
      maxNullRate: 0.02,
      min: 1000,
      max: 2_000_000,
      drift: true,
      severity: 'hard',
    });
    expect(credit.rules.map((r) => [r.id, r.severity])).toEqual([
      ['loan-within-20x-income', 'hard'],
      ['young-history-plausible', 'soft'],
    ]);
    expect(credit.freshness).toMatchObject({
      column: 'application_date',
      maxAgeMs: 180 * 86_400_000,
      severity: 'soft',
    });
    const quotes = set.forDataset('quotes-eurusd')!;
    expect(quotes.rules.find((r) => r.id === 'crossed-quotes')!.window).toEqual({
      column: 'quote_time',
      sizeMs: 60_000,
      size: '1m',
      maxRows: 2,
    });
    expect(quotes.gaps).toEqual([expect.objectContaining({ id: 'quote_time.gaps', by: 'symbol', maxGapMs: 120_000 })]);
    expect(set.forDataset('trades-today')).toBeUndefined();
    expect(credit.hash).toMatch(/^[0-9a-f]{64}$/);
  });

  it('matches dataset names by pattern, the first contract listed winning', () => {
    const set = buildContractSet([
      {
        file: 'a.yaml',
        text: `${HEAD.replace('[quotes-*]', '[quotes-eur*]').replace('name: quotes', 'name: eur')}${COLUMNS}`,
      },
      { file: 'b.yaml', text: `${HEAD}${COLUMNS}` },
    ]);
    expect(set.forDataset('quotes-eurusd')!.name).toBe('eur');
    expect(set.forDataset('quotes-gbpusd')!.name).toBe('quotes');
    expect(set.forDataset('quotes')).toBeUndefined();
  });

  it('refuses a YAML syntax error, an unknown field and a wrong kind with file:line', () => {
    expect(issues('apiVersion: [\n')).toEqual([expect.stringMatching(/^c\.yaml:\d+: YAML syntax error/)]);
    expect(issues(`${HEAD}${COLUMNS}colums: {}\n`)).toEqual([
      'c.yaml:9: the contract file has unknown field "colums"; allowed fields are: apiVersion, kind, metadata, datasets, reference, model, rows, freshness, columns, unique, gaps, rules',
    ]);
    expect(issues(HEAD.replace('DataContract', 'Policy') + COLUMNS)).toEqual(['c.yaml:2: kind must be "DataContract"']);
  });

  it('refuses bad column specs, each at its line', () => {
    const text = `${HEAD}columns:\n  a: { type: float }\n  b: { type: number, maxNullRate: 0.1 }\n  c: { type: string, min: 3 }\n  d: { type: category }\n  e: { type: number, min: 5, max: 1 }\n  f: { type: number, nullable: true, maxNullRate: 2 }\n`;
    expect(issues(text)).toEqual([
      'c.yaml:6: column "a" type must be one of: string, number, integer, date, timestamp, category',
      'c.yaml:7: column "b" sets maxNullRate but is not nullable; add "nullable: true" or drop maxNullRate',
      'c.yaml:8: column "c" is of type string; min applies only to number and integer columns',
      'c.yaml:9: column "d" is a category; list its allowed values, e.g. "values: [A, B]"',
      'c.yaml:10: column "e" min (5) is above max (1)',
      'c.yaml:11: column "f" maxNullRate must be a number from 0 to 1',
    ]);
  });

  it('refuses a rule whose CEL does not parse, reads another variable, or reads an undeclared column', () => {
    const rules = (when: string) =>
      `${HEAD}${COLUMNS}rules:\n  - id: r\n    when: ${JSON.stringify(when)}\n    severity: hard\n    reason: test\n`;
    expect(issues(rules('row.bid <= '))).toEqual([
      expect.stringMatching(/^c\.yaml:11: rule "r" when: CEL syntax error/),
    ]);
    expect(issues(rules('input.bid <= row.ask'))).toEqual([
      'c.yaml:11: rule "r" when: unknown variable "input" (a rule reads one row as "row", e.g. row.bid <= row.ask)',
    ]);
    expect(issues(rules('row.bid <= row.offer'))).toEqual([
      'c.yaml:11: rule "r" when: reads column "offer", which the contract does not declare (columns: quote_time, bid, ask)',
    ]);
    expect(issues(rules('row.bid <= row.ask'))).toEqual([]);
  });

  it('asks every rule for its severity and reason, and refuses an unknown severity', () => {
    const text = `${HEAD}${COLUMNS}rules:\n  - id: r\n    when: row.bid <= row.ask\n  - id: s\n    when: row.bid <= row.ask\n    severity: fatal\n    reason: x\n`;
    expect(issues(text)).toEqual([
      'c.yaml:10: rule "r" has no "reason"; say in a sentence what a broken row means',
      'c.yaml:10: rule "r" has no "severity"; say hard (the trainer refuses the data) or soft (reported for a person)',
      'c.yaml:14: rule "s" severity must be hard (the trainer refuses the data) or soft (reported for a person)',
    ]);
  });

  it('refuses freshness, gaps and windows on columns that are not times, or not there', () => {
    const text = `${HEAD}${COLUMNS}freshness: { column: bid, maxAge: 1d }\ngaps:\n  - { column: time, maxGap: 2m }\nrules:\n  - id: r\n    when: row.bid <= row.ask\n    window: { column: quote_time, size: soon, maxRows: 2 }\n    severity: hard\n    reason: x\n`;
    expect(issues(text)).toEqual([
      'c.yaml:9: freshness.column "bid" must be a column of type date or timestamp, not number',
      'c.yaml:11: gaps #1 column "time" is not a column of this contract (columns: quote_time, bid, ask)',
      'c.yaml:15: rule "r" window.size: "soon" is not a duration; write a number and a unit (s, m, h, d), e.g. "30m", "4h" or "1h30m"',
    ]);
  });

  it('refuses two rules with one id, and two contracts with one name across files', () => {
    const dup = `${HEAD}${COLUMNS}unique:\n  - { id: r, columns: [quote_time] }\nrules:\n  - id: r\n    when: row.bid <= row.ask\n    severity: soft\n    reason: x\n`;
    expect(issues(dup)).toEqual(['c.yaml:12: rule id "r" is used twice (first at line 10); give each rule its own id']);
    expect(() =>
      buildContractSet([
        { file: 'a.yaml', text: HEAD + COLUMNS },
        { file: 'b.yaml', text: HEAD + COLUMNS },
      ]),
    ).toThrow(/b\.yaml:3: data contract "quotes" is also defined at a\.yaml:3/);
  });

  it('refuses a contract file that cannot be read, naming the config key that lists it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'contracts-'));
    try {
      const missing = join(dir, 'nope.yaml');
      await expect(loadContracts([missing])).rejects.toThrow(
        `${missing}:1: cannot read the data contract: no such file (contracts.files in the config lists it)`,
      );
      await expect(loadContracts([dir])).rejects.toThrow(/is a directory, not a file/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
