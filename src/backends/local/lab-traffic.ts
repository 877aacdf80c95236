// What the lab's traffic generator sends each model: fresh credit applications, and top-of-
// book features of fresh FX quotes, each row with its true outcome for the delayed label.
// `lab inject drift` and `bad-data` change what is drawn from then on.
import { generateCreditRows, type CreditGeneratorOptions } from './credit-generator.js';
import type { CreditRow } from './credit-schema.js';
import { generateQuotes } from './quotes-generator.js';
import { LAB_IMBALANCE_EDGE } from './lab-seed.js';
import { FORWARD_RETURN, signalRows } from './signal-model.js';

/** `drift`: valid data whose distribution (and meaning) moved; `bad-data`: data that breaks its contract. */
export type TrafficMode = 'normal' | 'drift' | 'bad-data';

/** Draws rows one at a time, in batches generated with a fresh seed. */
function batches(make: (seed: number) => CreditRow[]): () => CreditRow {
  let seed = 1000;
  let batch: CreditRow[] = [];
  let i = 0;
  return () => {
    if (i >= batch.length) {
      batch = make(seed++);
      i = 0;
    }
    return batch[i++]!;
  };
}

const CREDIT_MODES: Record<TrafficMode, Partial<CreditGeneratorOptions>> = {
  normal: {},
  // Incomes 35% lower, utilisation up and the old relation to default partly gone.
  drift: { drift: { incomeShift: 0.65, utilizationShift: 0.25, conceptShift: 0.6 } },
  // An export that reports income in thousands: far outside the contract's range.
  'bad-data': { incomeUnit: 'kusd' },
};

export function creditTraffic(mode: () => TrafficMode): () => CreditRow {
  let current: TrafficMode = mode();
  let draw = make(current);
  function make(m: TrafficMode) {
    const startDate = new Date(Date.now() - 7 * 86_400_000).toISOString().slice(0, 10);
    return batches((seed) => generateCreditRows({ seed, rows: 2000, startDate, days: 7, ...CREDIT_MODES[m] }));
  }
  return () => {
    if (mode() !== current) {
      current = mode();
      draw = make(current);
    }
    return draw();
  };
}

/**
 * FX quotes as the signal sees them. Drift turns the book's lead on the mid around (the
 * signal's edge becomes a loss); bad data crosses quotes (bid above ask) every minute.
 */
export function signalTraffic(mode: () => TrafficMode): () => CreditRow {
  let current: TrafficMode = mode();
  let draw = make(current);
  function make(m: TrafficMode) {
    return batches((seed) => {
      const quotes = generateQuotes({
        seed,
        start: new Date(Math.floor(Date.now() / 60_000) * 60_000).toISOString(),
        minutes: 20,
        imbalanceEdge: m === 'drift' ? -LAB_IMBALANCE_EDGE : LAB_IMBALANCE_EDGE,
        ...(m === 'bad-data' ? { faults: { crossed: { fromMinute: 0, minutes: 20, perMinute: 6 } } } : {}),
      });
      // The forward return is the future: only its sign goes back, as the delayed label.
      return signalRows(quotes).map(({ [FORWARD_RETURN]: _future, ...row }) => row);
    });
  }
  return () => {
    if (mode() !== current) {
      current = mode();
      draw = make(current);
    }
    return draw();
  };
}
