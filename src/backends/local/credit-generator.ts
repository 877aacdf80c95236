// Synthetic credit applications for the local lab, replayable from a seed.
//
// The process, row by row (all draws from one mulberry32 stream, normals by Box-Muller):
//   application_date   spread evenly over `days` days from `startDate`, oldest first.
//   protected_group    A or B with probability 1/2 each, drawn independently of everything
//                      else except a 2% lower income for B: a weak correlation, so a model
//                      that never sees the group stays well inside a 5-point parity gap.
//   age_band           18-25 14%, 26-35 27%, 36-50 31%, 51-65 20%, 65+ 8%; an age in years
//                      is drawn uniformly inside the band.
//   stress s           a hidden N(0,1) "financial stress" that correlates debt, utilisation
//                      and delinquencies, as they are in real bureau data.
//   income             log-normal: exp(10.75 + 0.25·age effect + 0.55·N), then × incomeShift.
//   debt_ratio         log-normal around 0.3, rising with s.
//   credit_utilization logistic-normal around 0.35, rising with s, then + utilizationShift.
//   num_delinquencies  Poisson with mean 0.35·exp(0.7·s).
//   credit_history_months  up to the months since age 18 (30–100% of them).
//   num_open_accounts  Poisson, more with a longer history.
//   loan_amount        income × log-normal loan-to-income around 0.25.
//   default            Bernoulli(sigmoid(z)), z a linear ground truth in risk units (low
//                      income, high debt ratio, high utilisation, delinquencies, short history,
//                      high loan-to-income, youngest band). Calibrated so logistic regression
//                      reaches AUC ≈ 0.85 on a holdout and about 17% of applicants default.
//                      `conceptShift` c moves weight from income and utilisation to debt ratio
//                      and history: a model fitted before the shift ranks worse afterwards.
//   missingness        after the label is drawn, income and credit_history_months are each
//                      blanked with probability 0.5%.
//   incomeUnit 'kusd'  reports income in thousands (a broken upstream ETL) while the label
//                      still follows the true income: training/serving skew. The credit
//                      data contract's income range (>= 1,000) catches it.
//   historyUnit 'years' reports credit_history_months in whole years (another broken
//                      export): the values stay inside the contract's 0..720, so no rule
//                      sees it; only a model trained on it and served months does.
import { UserError } from '../../errors.js';
import { AGE_BANDS, type CreditRow } from './credit-schema.js';
import { createRandom } from './random.js';

export interface CreditDrift {
  /** Multiplies every income (0.8 = incomes 20% lower). */
  incomeShift?: number;
  /** Added to every credit utilisation (clamped to the schema's 0..1.5). */
  utilizationShift?: number;
  /** 0 = none, 1 = full: reweights the ground truth so older models rank worse. */
  conceptShift?: number;
}

export interface CreditGeneratorOptions {
  seed: number;
  rows: number;
  /** ISO date (YYYY-MM-DD) of the first application. */
  startDate: string;
  days: number;
  drift?: CreditDrift;
  incomeUnit?: 'usd' | 'kusd';
  historyUnit?: 'months' | 'years';
}

const AGE_BAND_WEIGHTS = [0.14, 0.27, 0.31, 0.2, 0.08];
const AGE_BAND_YEARS: [number, number][] = [
  [18, 25],
  [26, 35],
  [36, 50],
  [51, 65],
  [66, 80],
];
const MISSING_RATE = 0.005;
const DAY_MS = 86_400_000;

function clamp(x: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, x));
}

function round(x: number, decimals: number): number {
  const f = 10 ** decimals;
  return Math.round(x * f) / f;
}

function sigmoid(z: number): number {
  return 1 / (1 + Math.exp(-z));
}

function validate(options: CreditGeneratorOptions): number {
  const { seed, rows, startDate, days, drift = {}, incomeUnit = 'usd' } = options;
  if (!Number.isInteger(seed)) throw new UserError(`generator seed must be an integer, got ${seed}`);
  if (!Number.isInteger(rows) || rows < 1)
    throw new UserError(`generator rows must be a positive integer, got ${rows}`);
  if (!Number.isInteger(days) || days < 1)
    throw new UserError(`generator days must be a positive integer, got ${days}`);
  const start = Date.parse(`${startDate}T00:00:00Z`);
  if (!/^\d{4}-\d{2}-\d{2}$/.test(startDate) || Number.isNaN(start)) {
    throw new UserError(`generator startDate must be an ISO date like 2025-01-01, got "${startDate}"`);
  }
  if (drift.incomeShift !== undefined && !(drift.incomeShift > 0)) {
    throw new UserError(`drift.incomeShift is a multiplier and must be > 0, got ${drift.incomeShift}`);
  }
  if (drift.utilizationShift !== undefined && !Number.isFinite(drift.utilizationShift)) {
    throw new UserError(`drift.utilizationShift must be a finite number, got ${drift.utilizationShift}`);
  }
  if (drift.conceptShift !== undefined && !(drift.conceptShift >= 0 && drift.conceptShift <= 1)) {
    throw new UserError(`drift.conceptShift must lie in 0..1, got ${drift.conceptShift}`);
  }
  if (incomeUnit !== 'usd' && incomeUnit !== 'kusd')
    throw new UserError(`incomeUnit must be "usd" or "kusd", got "${incomeUnit}"`);
  if (options.historyUnit !== undefined && options.historyUnit !== 'months' && options.historyUnit !== 'years')
    throw new UserError(`historyUnit must be "months" or "years", got "${options.historyUnit}"`);
  return start;
}

export function generateCreditRows(options: CreditGeneratorOptions): CreditRow[] {
  const start = validate(options);
  const { seed, rows: count, days, drift = {}, incomeUnit = 'usd' } = options;
  const incomeShift = drift.incomeShift ?? 1;
  const utilizationShift = drift.utilizationShift ?? 0;
  const c = drift.conceptShift ?? 0;
  // Ground-truth weights in risk units; the concept shift moves weight between features.
  const w = {
    income: 0.75 * (1 - c),
    debt: 0.6 + 1.2 * c,
    utilization: 0.9 * (1 - 0.8 * c),
    delinquency: 0.55 * (1 - 0.4 * c),
    history: 0.35 + 0.7 * c,
    loanToIncome: 0.3,
    young: 0.3,
  };
  const random = createRandom(seed);
  const rows: CreditRow[] = [];
  for (let i = 0; i < count; i++) {
    const date = new Date(start + Math.floor((i * days) / count) * DAY_MS).toISOString().slice(0, 10);
    const group = random.next() < 0.5 ? 'A' : 'B';
    let band = 0;
    for (let u = random.next(), acc = AGE_BAND_WEIGHTS[0]!; u >= acc && band < AGE_BANDS.length - 1;) {
      band++;
      acc += AGE_BAND_WEIGHTS[band]!;
    }
    const [minAge, maxAge] = AGE_BAND_YEARS[band]!;
    const age = minAge + random.next() * (maxAge - minAge);
    const stress = random.normal();
    const ageEffect = (Math.min(age, 55) - 40) / 15;
    const trueIncome = clamp(
      Math.exp(10.75 + 0.25 * ageEffect + 0.55 * random.normal()) * (group === 'B' ? 0.98 : 1) * incomeShift,
      5_000,
      2_000_000,
    );
    const debtRatio = clamp(Math.exp(Math.log(0.3) + 0.25 * stress + 0.45 * random.normal()), 0, 5);
    const utilization = clamp(sigmoid(-0.7 + 0.8 * stress + 0.8 * random.normal()) + utilizationShift, 0, 1.5);
    const delinquencies = Math.min(30, random.poisson(0.35 * Math.exp(0.7 * stress)));
    const history = clamp(Math.round((age - 18) * 12 * (0.3 + 0.7 * random.next())), 0, 720);
    const openAccounts = Math.min(60, random.poisson(2.5 + history / 48));
    const loan = clamp(trueIncome * Math.exp(Math.log(0.25) + 0.5 * random.normal()), 500, 500_000);

    const z =
      -2.35 +
      w.income * (-(Math.log(trueIncome) - 10.75) / 0.55) +
      w.debt * ((debtRatio - 0.32) / 0.16) +
      w.utilization * ((utilization - 0.35) / 0.2) +
      w.delinquency * delinquencies +
      w.history * (-(history - 150) / 110) +
      (w.loanToIncome * (Math.log(loan / trueIncome) - Math.log(0.25))) / 0.5 +
      (band === 0 ? w.young : 0);
    const label = random.next() < sigmoid(z) ? '1' : '0';

    const reportedIncome = incomeUnit === 'kusd' ? round(trueIncome / 1000, 2) : Math.round(trueIncome);
    const reportedHistory = options.historyUnit === 'years' ? Math.round(history / 12) : history;
    rows.push({
      applicant_id: `app-${seed}-${i}`,
      application_date: date,
      income: random.next() < MISSING_RATE ? null : reportedIncome,
      debt_ratio: round(debtRatio, 3),
      credit_utilization: round(utilization, 3),
      num_delinquencies: delinquencies,
      credit_history_months: random.next() < MISSING_RATE ? null : reportedHistory,
      num_open_accounts: openAccounts,
      loan_amount: Math.round(loan / 10) * 10,
      age_band: AGE_BANDS[band]!,
      protected_group: group,
      default: label,
    });
  }
  return rows;
}
