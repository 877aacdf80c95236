// Drift of a dataset (or of served traffic) against a reference: PSI per feature, KS
// for numeric features, and KL divergence of a model's score distributions.
import type { DataQualityFinding, Severity } from '../../../tools/ports.js';
import type { ColumnSpec, CreditRow } from './credit-schema.js';
import { klNumeric, ksTest, psiCategorical, psiNumeric, psiSeverity, PSI_ALERT, PSI_WARN } from './drift-statistics.js';
import { score, type ModelArtifact } from './model-artifact.js';

/** KS warns when the shift is both significant and large enough to matter. */
export const KS_WARN = { pValue: 0.01, statistic: 0.1 };
export const KS_ALERT = { pValue: 0.001, statistic: 0.2 };
/** KL(current || reference) of the score distributions, in nats. */
export const PREDICTION_KL_WARN = 0.05;
export const PREDICTION_KL_ALERT = 0.1;

export interface FeatureDrift {
  column: string;
  psi: number;
  /** Numeric features only. */
  ks?: { statistic: number; pValue: number };
}

const numbers = (rows: readonly CreditRow[], column: string) =>
  rows.map((r) => r[column]).filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
const strings = (rows: readonly CreditRow[], column: string) =>
  rows.map((r) => r[column]).filter((v): v is string => typeof v === 'string');

/** PSI (and KS) of every feature column present in both samples; missing values are left out. */
export function measureFeatureDrift(
  reference: readonly CreditRow[],
  current: readonly CreditRow[],
  columns: readonly ColumnSpec[],
): FeatureDrift[] {
  const out: FeatureDrift[] = [];
  for (const spec of columns) {
    if (!spec.feature) continue;
    if (spec.type === 'number' || spec.type === 'integer') {
      const ref = numbers(reference, spec.name);
      const cur = numbers(current, spec.name);
      if (ref.length === 0 || cur.length === 0) continue;
      out.push({ column: spec.name, psi: psiNumeric(ref, cur), ks: ksTest(ref, cur) });
    } else if (spec.type === 'category') {
      const ref = strings(reference, spec.name);
      const cur = strings(current, spec.name);
      if (ref.length === 0 || cur.length === 0) continue;
      out.push({ column: spec.name, psi: psiCategorical(ref, cur) });
    }
  }
  return out;
}

export function scoreRows(artifact: ModelArtifact, rows: readonly CreditRow[]): number[] {
  return rows.map((r) => score(artifact, r)).filter((s) => Number.isFinite(s));
}

export function predictionKl(
  artifact: ModelArtifact,
  reference: readonly CreditRow[],
  current: readonly CreditRow[],
): number {
  return klNumeric(scoreRows(artifact, reference), scoreRows(artifact, current));
}

function ksSeverity(ks: { statistic: number; pValue: number }): Severity {
  if (ks.pValue < KS_ALERT.pValue && ks.statistic >= KS_ALERT.statistic) return 'alert';
  if (ks.pValue < KS_WARN.pValue && ks.statistic >= KS_WARN.statistic) return 'warn';
  return 'info';
}

/** Findings for every drift measure; values below the warn bands come back as `info`, so the report carries them. */
export function driftFindings(
  reference: readonly CreditRow[],
  current: readonly CreditRow[],
  columns: readonly ColumnSpec[],
  champion?: ModelArtifact,
  /** Who scored, for the message (e.g. `credit-risk v3`); the report then says which model it measured. */
  championName = 'the champion',
): DataQualityFinding[] {
  const findings: DataQualityFinding[] = [];
  for (const d of measureFeatureDrift(reference, current, columns)) {
    const severity = psiSeverity(d.psi);
    findings.push({
      check: 'psi',
      column: d.column,
      value: d.psi,
      threshold: severity === 'alert' ? PSI_ALERT : PSI_WARN,
      severity,
      message: `PSI of "${d.column}" against the reference is ${d.psi.toFixed(4)} (warn >= ${PSI_WARN}, alert >= ${PSI_ALERT})`,
    });
    if (d.ks) {
      const ksSev = ksSeverity(d.ks);
      findings.push({
        check: 'ks',
        column: d.column,
        value: d.ks.statistic,
        threshold: ksSev === 'alert' ? KS_ALERT.statistic : KS_WARN.statistic,
        severity: ksSev,
        message: `KS statistic of "${d.column}" is ${d.ks.statistic.toFixed(4)} (p = ${d.ks.pValue.toExponential(2)})`,
      });
    }
  }
  if (champion) {
    const kl = predictionKl(champion, reference, current);
    const severity: Severity = kl > PREDICTION_KL_ALERT ? 'alert' : kl > PREDICTION_KL_WARN ? 'warn' : 'info';
    findings.push({
      check: 'prediction_kl',
      column: null,
      value: kl,
      threshold: PREDICTION_KL_ALERT,
      severity,
      message: `KL divergence of ${championName}'s scores on this data from its scores on the reference is ${kl.toFixed(4)} (alert > ${PREDICTION_KL_ALERT})`,
    });
  }
  return findings;
}
