// Random search around the requested params. The requested params are always trial 1, so
// a search can only pick something better on validation than what was asked for.
import { UserError } from '../../errors.js';
import type { TrainingParams } from './logistic-regression.js';
import { createRandom, type Random } from './random.js';

export const MAX_SEARCH_TRIALS = 50;

function logUniform(random: Random, lo: number, hi: number): number {
  return Math.exp(Math.log(lo) + random.next() * (Math.log(hi) - Math.log(lo)));
}

function roundTo(x: number, significant: number): number {
  return Number(x.toPrecision(significant));
}

/**
 * `trials` random draws around `base`: learning rate log-uniform in base/3..base×3, l2
 * log-uniform in base/10..base×10 (1e-5..1e-2 when base is 0), epochs in base/2..base×2.
 * Batch size and seed stay as asked. Returns base first, then the draws.
 */
export function searchCandidates(base: TrainingParams, trials: number): TrainingParams[] {
  if (!Number.isInteger(trials) || trials < 0 || trials > MAX_SEARCH_TRIALS) {
    throw new UserError(`searchTrials must be an integer in 0..${MAX_SEARCH_TRIALS}, got ${trials}`);
  }
  // Seeded from the request's seed so a rerun of the same request replays the same search.
  const random = createRandom(base.seed ^ 0x5eed);
  const candidates = [base];
  for (let i = 0; i < trials; i++) {
    const l2Low = base.l2 > 0 ? base.l2 / 10 : 1e-5;
    const l2High = base.l2 > 0 ? base.l2 * 10 : 1e-2;
    candidates.push({
      ...base,
      learningRate: roundTo(logUniform(random, base.learningRate / 3, base.learningRate * 3), 3),
      l2: roundTo(logUniform(random, l2Low, l2High), 3),
      epochs: random.int(Math.max(1, Math.floor(base.epochs / 2)), Math.min(1000, base.epochs * 2)),
    });
  }
  return candidates;
}
