// Synthetic bid/ask quotes for the lab's second data kind (trading), replayable from a seed.
//
// Per symbol, one quote every `intervalSeconds` from `start` for `minutes` minutes; rows are
// ordered by time, then symbol. The mid price is a random walk (N(0, 0.2 bp) a quote), the
// spread ~1 bp of it with a little noise, sizes Poisson around 1 million (FX lots of 1,000).
// Faults, each one a thing the quotes data contract is there to catch:
//   missingRate   a quote with no prices and no sizes: the feed sent a heartbeat, no quote.
//   crossed       from `fromMinute` for `minutes`, `perMinute` quotes a minute are crossed
//                 (bid above ask), as a feed that swaps its sides does.
//   halt          no quotes for `symbol` (default: all) from `fromMinute` for `minutes`.
import { UserError } from '../../errors.js';
import type { CreditRow } from './credit-schema.js';
import { createRandom } from './random.js';

export const QUOTE_COLUMNS = ['symbol', 'quote_time', 'bid', 'ask', 'bid_size', 'ask_size'];

const START_MID: Record<string, { mid: number; decimals: number }> = {
  EURUSD: { mid: 1.085, decimals: 5 },
  GBPUSD: { mid: 1.265, decimals: 5 },
  USDJPY: { mid: 151.2, decimals: 3 },
};

export interface QuoteGeneratorOptions {
  seed: number;
  /** Default EURUSD, GBPUSD, USDJPY; others start at 100 with 4 decimals. */
  symbols?: string[];
  /** ISO timestamp of the first quote. */
  start: string;
  minutes: number;
  intervalSeconds?: number;
  faults?: {
    missingRate?: number;
    crossed?: { fromMinute: number; minutes: number; perMinute: number };
    halt?: { symbol?: string; fromMinute: number; minutes: number };
  };
  /**
   * How far the book's size imbalance leads the next mid move, in standard deviations of a
   * step (default 0: a pure random walk). The lab's trading-signal model learns this.
   */
  imbalanceEdge?: number;
}

function round(x: number, decimals: number): number {
  const f = 10 ** decimals;
  return Math.round(x * f) / f;
}

export function generateQuotes(options: QuoteGeneratorOptions): CreditRow[] {
  const { seed, minutes, faults = {} } = options;
  const symbols = options.symbols ?? Object.keys(START_MID);
  const interval = options.intervalSeconds ?? 5;
  const start = Date.parse(options.start);
  if (!Number.isInteger(seed)) throw new UserError(`quote generator seed must be an integer, got ${seed}`);
  if (Number.isNaN(start))
    throw new UserError(
      `quote generator start must be an ISO timestamp like 2026-03-02T09:00:00Z, got "${options.start}"`,
    );
  if (!Number.isInteger(minutes) || minutes < 1)
    throw new UserError(`quote generator minutes must be a positive integer, got ${minutes}`);
  if (!(interval > 0) || 60 % interval !== 0)
    throw new UserError(`intervalSeconds must divide 60 (1, 2, 5, 10, 30, ...), got ${interval}`);
  if (symbols.length === 0) throw new UserError('quote generator needs at least one symbol');
  const missingRate = faults.missingRate ?? 0;
  if (!(missingRate >= 0 && missingRate <= 1))
    throw new UserError(`faults.missingRate must lie in 0..1, got ${missingRate}`);

  const random = createRandom(seed);
  const edge = options.imbalanceEdge ?? 0;
  if (!Number.isFinite(edge)) throw new UserError(`imbalanceEdge must be a finite number, got ${edge}`);
  const state = symbols.map((symbol) => ({
    symbol,
    imbalance: 0,
    ...(START_MID[symbol] ?? { mid: 100, decimals: 4 }),
  }));
  const perMinute = 60 / interval;
  const rows: CreditRow[] = [];
  const inWindow = (minute: number, w?: { fromMinute: number; minutes: number }) =>
    w !== undefined && minute >= w.fromMinute && minute < w.fromMinute + w.minutes;
  for (let i = 0; i < minutes * perMinute; i++) {
    const minute = Math.floor(i / perMinute);
    // Which quotes of this minute are crossed: the first `perMinute` of the crossed window's minutes.
    const crossedHere = inWindow(minute, faults.crossed) && i % perMinute < faults.crossed!.perMinute;
    for (const s of state) {
      s.mid *= 1 + 0.00002 * (random.normal() + edge * s.imbalance);
      const halted =
        inWindow(minute, faults.halt) && (faults.halt!.symbol === undefined || faults.halt!.symbol === s.symbol);
      const missing = random.next() < missingRate;
      const halfSpread = s.mid * 0.00005 * (1 + 0.2 * Math.abs(random.normal()));
      const sizes = [1000 * random.poisson(1000), 1000 * random.poisson(1000)];
      s.imbalance = (sizes[0]! - sizes[1]!) / (sizes[0]! + sizes[1]! || 1);
      if (halted) continue;
      const time = new Date(start + i * interval * 1000).toISOString();
      if (missing) {
        rows.push({ symbol: s.symbol, quote_time: time, bid: null, ask: null, bid_size: null, ask_size: null });
        continue;
      }
      let bid = round(s.mid - halfSpread, s.decimals);
      let ask = round(s.mid + halfSpread, s.decimals);
      // Only the first symbol's quotes cross, so `perMinute` is the count a minute.
      if (crossedHere && s === state[0]) [bid, ask] = [round(ask + 10 ** -s.decimals, s.decimals), bid];
      rows.push({ symbol: s.symbol, quote_time: time, bid, ask, bid_size: sizes[0]!, ask_size: sizes[1]! });
    }
  }
  return rows;
}
