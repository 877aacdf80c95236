import { describe, expect, it } from 'vitest';
import { generateCreditRows } from '../../../src/backends/local/credit-generator.js';
import { CREDIT_COLUMNS } from '../../../src/backends/local/credit-schema.js';
import { UserError } from '../../../src/errors.js';

const base = { seed: 11, rows: 5000, startDate: '2025-01-01', days: 30 };

function numbers(rows: ReturnType<typeof generateCreditRows>, column: string): number[] {
  return rows.map((r) => r[column]).filter((v): v is number => typeof v === 'number');
}

function median(values: number[]): number {
  return [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
}

describe('generateCreditRows', () => {
  it('replays the same rows from the same seed', () => {
    expect(generateCreditRows(base)).toEqual(generateCreditRows(base));
  });

  it('draws different rows from a different seed', () => {
    const a = generateCreditRows(base);
    const b = generateCreditRows({ ...base, seed: 12 });
    expect(a.map((r) => r.income)).not.toEqual(b.map((r) => r.income));
  });

  it('fills every schema column with values inside the schema ranges', () => {
    const rows = generateCreditRows(base);
    const violations: string[] = [];
    for (const spec of CREDIT_COLUMNS) {
      rows.forEach((row, i) => {
        const value = row[spec.name];
        if (value === undefined) violations.push(`row ${i}: ${spec.name} absent`);
        if (value === null || value === undefined) return;
        if (spec.range && (typeof value !== 'number' || value < spec.range[0] || value > spec.range[1]))
          violations.push(`row ${i}: ${spec.name}=${value}`);
        if (spec.values && !spec.values.includes(String(value))) violations.push(`row ${i}: ${spec.name}=${value}`);
      });
    }
    expect(violations).toEqual([]);
  });

  it('has realistic distributions: log-normal income, a ~20% default rate, balanced groups', () => {
    const rows = generateCreditRows(base);
    const income = numbers(rows, 'income');
    const mean = income.reduce((s, v) => s + v, 0) / income.length;
    // Log-normal: right-skewed, mean above median, median near exp(10.75) ≈ 46.6k.
    expect(median(income)).toBeGreaterThan(35_000);
    expect(median(income)).toBeLessThan(60_000);
    expect(mean).toBeGreaterThan(median(income));
    const defaults = rows.filter((r) => r.default === '1').length / rows.length;
    expect(defaults).toBeGreaterThan(0.12);
    expect(defaults).toBeLessThan(0.3);
    const groupA = rows.filter((r) => r.protected_group === 'A').length / rows.length;
    expect(Math.abs(groupA - 0.5)).toBeLessThan(0.03);
    const delinquencies = numbers(rows, 'num_delinquencies');
    expect(delinquencies.every(Number.isInteger)).toBe(true);
    expect(median(delinquencies)).toBe(0);
  });

  it('leaves about half a percent of income and history missing, and nothing else', () => {
    const rows = generateCreditRows({ ...base, rows: 20_000 });
    for (const column of ['income', 'credit_history_months']) {
      const missing = rows.filter((r) => r[column] === null).length / rows.length;
      expect(missing).toBeGreaterThan(0.002);
      expect(missing).toBeLessThan(0.009);
    }
    expect(rows.some((r) => r.debt_ratio === null || r.default === null)).toBe(false);
  });

  it('spreads application dates over the requested days, oldest first', () => {
    const rows = generateCreditRows(base);
    const dates = rows.map((r) => r.application_date as string);
    expect(dates[0]).toBe('2025-01-01');
    expect(dates[dates.length - 1]).toBe('2025-01-30');
    expect([...dates].sort()).toEqual(dates);
    expect(new Set(rows.map((r) => r.applicant_id)).size).toBe(rows.length);
  });

  it('applies income and utilisation drift', () => {
    const plain = generateCreditRows(base);
    const drifted = generateCreditRows({ ...base, drift: { incomeShift: 0.7, utilizationShift: 0.2 } });
    expect(median(numbers(drifted, 'income')) / median(numbers(plain, 'income'))).toBeCloseTo(0.7, 1);
    expect(
      median(numbers(drifted, 'credit_utilization')) - median(numbers(plain, 'credit_utilization')),
    ).toBeGreaterThan(0.15);
  });

  it('reports income in thousands when the upstream ETL is broken, with the same labels', () => {
    const usd = generateCreditRows(base);
    const kusd = generateCreditRows({ ...base, incomeUnit: 'kusd' });
    expect(median(numbers(kusd, 'income'))).toBeLessThan(100);
    expect(kusd.map((r) => r.default)).toEqual(usd.map((r) => r.default));
  });

  it('refuses bad options with a clear message', () => {
    expect(() => generateCreditRows({ ...base, rows: 0 })).toThrow(UserError);
    expect(() => generateCreditRows({ ...base, startDate: '01/02/2025' })).toThrow(/ISO date/);
    expect(() => generateCreditRows({ ...base, drift: { conceptShift: 2 } })).toThrow(/conceptShift/);
    expect(() => generateCreditRows({ ...base, drift: { incomeShift: 0 } })).toThrow(/incomeShift/);
  });
});
