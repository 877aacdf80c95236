// The lab's second kind of model: a trading signal that reads the top of the book (bid/ask
// prices and sizes) and says whether the next mid moves up. Its rows come from bid/ask
// quotes; its quality is a Sharpe-ratio-style figure of the strategy that goes long when
// the score is above 0.5 and short otherwise, mid to mid: gross of the spread, since the
// lab's 5-second moves are smaller than its spreads and every signal would lose net.
import type { QualityGateResult } from '../../../tools/ports.js';
import { UserError } from '../../errors.js';
import type { ColumnSpec, CreditRow } from './credit-schema.js';
import { auc } from './evaluation.js';
import { encodeRows, fitEncoder, fitLogisticRegression, parseTrainingParams } from './logistic-regression.js';
import { score, type ModelArtifact } from './model-artifact.js';
import { createRandom, shuffledIndices } from './random.js';

/** The signal's inputs, derived from one quote. */
export const SIGNAL_FEATURES: ColumnSpec[] = [
  { name: 'imbalance', type: 'number', feature: true, maxMissing: 0 },
  { name: 'spread_bps', type: 'number', feature: true, maxMissing: 0 },
];
/** 1 when the next quote's mid is above this one's. */
export const SIGNAL_LABEL = 'up';
/** The next mid's move in basis points: what a position taken at this quote earns. */
export const FORWARD_RETURN = 'forward_return_bps';
/** The lowest Sharpe-style figure a signal version may be promoted with. */
export const MIN_SHARPE_PER_TRADE = 0.05;

/**
 * One row per quote that has a next quote of the same symbol: the quote's features, its
 * label and its forward return. Quotes with a missing side are skipped, as a trader would.
 */
export function signalRows(quotes: readonly CreditRow[]): CreditRow[] {
  const last = new Map<string, CreditRow>();
  const rows: CreditRow[] = [];
  const mid = (q: CreditRow) => ((q.bid as number) + (q.ask as number)) / 2;
  for (const q of quotes) {
    if (
      typeof q.bid !== 'number' ||
      typeof q.ask !== 'number' ||
      typeof q.bid_size !== 'number' ||
      typeof q.ask_size !== 'number'
    )
      continue;
    const symbol = String(q.symbol);
    const previous = last.get(symbol);
    if (previous) {
      const move = ((mid(q) - mid(previous)) / mid(previous)) * 10_000;
      rows.push({ ...features(previous), [SIGNAL_LABEL]: move > 0 ? 1 : 0, [FORWARD_RETURN]: move });
    }
    last.set(symbol, q);
  }
  return rows;
}

/** The model's inputs for one quote (what /predict is sent). */
export function features(q: CreditRow): CreditRow {
  const bid = q.bid as number;
  const ask = q.ask as number;
  const bidSize = q.bid_size as number;
  const askSize = q.ask_size as number;
  return {
    symbol: q.symbol ?? null,
    quote_time: q.quote_time ?? null,
    bid,
    ask,
    bid_size: bidSize,
    ask_size: askSize,
    imbalance: (bidSize - askSize) / (bidSize + askSize || 1),
    spread_bps: ((ask - bid) / ((ask + bid) / 2)) * 10_000,
  };
}

/**
 * Mean over standard deviation of the per-trade P&L in bps, mid to mid (long above 0.5,
 * short below): a per-trade Sharpe ratio, gross of costs and not annualised.
 */
export function sharpePerTrade(scores: ArrayLike<number>, rows: readonly CreditRow[]): number {
  if (rows.length < 2) return 0;
  const pnl = rows.map((row, i) => (scores[i]! > 0.5 ? 1 : -1) * (row[FORWARD_RETURN] as number));
  const mean = pnl.reduce((s, v) => s + v, 0) / pnl.length;
  const sd = Math.sqrt(pnl.reduce((s, v) => s + (v - mean) ** 2, 0) / (pnl.length - 1));
  return sd > 0 ? mean / sd : 0;
}

export interface SignalTraining {
  artifact: ModelArtifact;
  params: Record<string, number>;
  metrics: Record<string, number>;
  gates: QualityGateResult[];
}

/** Fits the signal on 70% of the rows (seeded shuffle) and judges it on the other 30%. */
export function trainSignalModel(rows: readonly CreditRow[], seed = 7): SignalTraining {
  if (rows.length < 200)
    throw new UserError(`the signal model needs at least 200 quote rows to train, got ${rows.length}`);
  const params = parseTrainingParams({ seed });
  const order = shuffledIndices(rows.length, createRandom(seed));
  const testCount = Math.round(rows.length * 0.3);
  const test = order.slice(0, testCount).map((i) => rows[i]!);
  const train = order.slice(testCount).map((i) => rows[i]!);
  const encoder = fitEncoder(train, SIGNAL_FEATURES);
  const labels = Uint8Array.from(train, (r) => (r[SIGNAL_LABEL] === 1 ? 1 : 0));
  const artifact = fitLogisticRegression(encoder, encodeRows(encoder, train), labels, params);
  const scores = test.map((r) => score(artifact, r));
  const testLabels = test.map((r) => (r[SIGNAL_LABEL] === 1 ? 1 : 0));
  const hits = scores.filter((s, i) => (s > 0.5 ? 1 : 0) === testLabels[i]).length;
  const metrics = {
    sharpe_per_trade: sharpePerTrade(scores, test),
    hit_rate: hits / test.length,
    auc: auc(scores, testLabels),
    train_rows: train.length,
    test_rows: test.length,
  };
  const gates: QualityGateResult[] = [
    {
      gate: 'sharpe_per_trade',
      direction: 'min',
      value: metrics.sharpe_per_trade,
      threshold: MIN_SHARPE_PER_TRADE,
      passed: metrics.sharpe_per_trade >= MIN_SHARPE_PER_TRADE,
    },
  ];
  return { artifact, params: { ...params }, metrics, gates };
}
