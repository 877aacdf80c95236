import { describe, expect, it } from 'vitest';
import { generateCreditRows } from '../../../src/backends/local/credit-generator.js';
import { generateQuotes } from '../../../src/backends/local/quotes-generator.js';
import { UserError } from '../../../src/errors.js';

const base = { seed: 4, start: '2026-03-02T09:00:00Z', minutes: 10 };

describe('generateQuotes', () => {
  it('replays the same quotes from the same seed: one per symbol every 5 s, ordered by time, never crossed', () => {
    const rows = generateQuotes(base);
    expect(rows).toEqual(generateQuotes(base));
    expect(rows).toHaveLength(3 * 120);
    expect(rows.slice(0, 3).map((r) => [r.symbol, r.quote_time])).toEqual([
      ['EURUSD', '2026-03-02T09:00:00.000Z'],
      ['GBPUSD', '2026-03-02T09:00:00.000Z'],
      ['USDJPY', '2026-03-02T09:00:00.000Z'],
    ]);
    expect(rows.every((r) => (r.bid as number) < (r.ask as number))).toBe(true);
    const eur = rows.filter((r) => r.symbol === 'EURUSD').map((r) => r.bid as number);
    expect(Math.min(...eur)).toBeGreaterThan(1.07);
    expect(Math.max(...eur)).toBeLessThan(1.1);
  });

  it('injects missing quotes, crossed quotes and a halt where asked', () => {
    const rows = generateQuotes({
      ...base,
      faults: {
        missingRate: 0.05,
        crossed: { fromMinute: 2, minutes: 2, perMinute: 3 },
        halt: { symbol: 'USDJPY', fromMinute: 5, minutes: 3 },
      },
    });
    const missing = rows.filter((r) => r.bid === null && r.ask === null && r.bid_size === null);
    expect(missing.length).toBeGreaterThan(5);
    const crossed = rows.filter((r) => r.bid !== null && (r.bid as number) > (r.ask as number));
    expect(crossed.every((r) => r.symbol === 'EURUSD' && /T09:0[23]:/.test(r.quote_time as string))).toBe(true);
    expect(crossed.length).toBeGreaterThanOrEqual(5);
    expect(rows.filter((r) => r.symbol === 'USDJPY' && /T09:0[567]:/.test(r.quote_time as string))).toEqual([]);
  });

  it('refuses options it cannot honour, saying what to give', () => {
    expect(() => generateQuotes({ ...base, start: 'monday' })).toThrow(UserError);
    expect(() => generateQuotes({ ...base, intervalSeconds: 7 })).toThrow(/must divide 60/);
    expect(() => generateQuotes({ ...base, faults: { missingRate: 2 } })).toThrow(/0\.\.1/);
  });
});

describe('generateCreditRows with credit history in years', () => {
  it('reports the same histories divided by 12, every value still inside 0..720', () => {
    const options = { seed: 11, rows: 2000, startDate: '2025-01-01', days: 30 };
    const months = generateCreditRows(options);
    const years = generateCreditRows({ ...options, historyUnit: 'years' });
    years.forEach((r, i) => {
      const m = months[i]!.credit_history_months;
      expect(r.credit_history_months).toBe(m === null ? null : Math.round((m as number) / 12));
    });
    expect(Math.max(...years.map((r) => (r.credit_history_months as number) ?? 0))).toBeLessThanOrEqual(60);
  });
});
