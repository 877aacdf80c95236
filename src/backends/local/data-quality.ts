// The lab's DataQuality: schema, missing values, ranges, duplicates, CEL row rules, time
// gaps, and drift against a reference dataset (PSI, KS, and KL of the champion's scores).
import { UserError } from '../../errors.js';
import type { DataQuality, DataQualityFinding, DataQualityReport } from '../../../tools/ports.js';
import type { Clock } from '../../clock.js';
import { systemClock } from '../../clock.js';
import { CREDIT_COLUMNS, type ColumnSpec, type CreditRow } from './credit-schema.js';
import { readDataset, type LoadedDataset } from './dataset-store.js';
import { driftFindings } from './drift-findings.js';
import type { ModelArtifact } from './model-artifact.js';
import { evaluateRules, type RowRule } from './row-rules.js';

export interface LocalDataQualityOptions {
  datasetsDir: string;
  columns?: ColumnSpec[];
  defaultReference?: string;
  rules?: RowRule[];
  /** Consecutive values of `column` (a date/time) may be at most this far apart. */
  timeWindow?: { column: string; maxGapMinutes: number };
  /** Column whose values must be unique (default: the first `string` column). */
  idColumn?: string;
  /** The champion model, for prediction drift; undefined skips that check. */
  scoreWith?: () => Promise<ModelArtifact | undefined>;
  clock?: Clock;
}

const EXAMPLES = 5;
const list = (rowNumbers: number[]) => rowNumbers.slice(0, EXAMPLES).join(', ') + (rowNumbers.length > EXAMPLES ? ', ...' : '');

function schemaFindings(data: LoadedDataset, columns: ColumnSpec[]): DataQualityFinding[] {
  const findings: DataQualityFinding[] = [];
  const present = new Set(data.header);
  for (const spec of columns) {
    if (!present.has(spec.name)) {
      findings.push({ check: 'schema', column: spec.name, value: null, threshold: null, severity: 'alert', message: `column "${spec.name}" is missing` });
    }
  }
  const known = new Set(columns.map((c) => c.name));
  for (const column of data.header) {
    if (!known.has(column)) {
      findings.push({ check: 'schema', column, value: null, threshold: null, severity: 'warn', message: `column "${column}" is not in the schema` });
    }
  }
  const byColumn = new Map<string, LoadedDataset['typeErrors']>();
  for (const e of data.typeErrors) byColumn.set(e.column, [...(byColumn.get(e.column) ?? []), e]);
  for (const [column, errors] of byColumn) {
    const spec = columns.find((c) => c.name === column)!;
    const first = errors[0]!;
    findings.push({
      check: 'schema', column, value: errors.length, threshold: 0, severity: 'alert',
      message: `${errors.length} value(s) in "${column}" are not of type ${spec.type} (row ${first.row}: "${first.value}")`,
    });
  }
  return findings;
}

function valueFindings(rows: CreditRow[], header: string[], columns: ColumnSpec[]): DataQualityFinding[] {
  const findings: DataQualityFinding[] = [];
  for (const spec of columns) {
    if (!header.includes(spec.name) || rows.length === 0) continue;
    const missing = rows.filter((r) => r[spec.name] === null || r[spec.name] === undefined).length;
    const share = missing / rows.length;
    if (share > spec.maxMissing) {
      findings.push({
        check: 'missing', column: spec.name, value: share, threshold: spec.maxMissing, severity: 'alert',
        message: `${missing} of ${rows.length} values of "${spec.name}" are missing (${(share * 100).toFixed(2)}% > ${(spec.maxMissing * 100).toFixed(2)}%)`,
      });
    }
    const outside: number[] = [];
    rows.forEach((r, i) => {
      const v = r[spec.name];
      if (spec.range && typeof v === 'number' && (v < spec.range[0] || v > spec.range[1])) outside.push(i + 1);
      if (spec.values && typeof v === 'string' && !spec.values.includes(v)) outside.push(i + 1);
    });
    if (outside.length > 0) {
      const allowed = spec.range ? `[${spec.range[0]}, ${spec.range[1]}]` : `{${spec.values!.join(', ')}}`;
      findings.push({
        check: 'range', column: spec.name, value: outside.length, threshold: 0, severity: 'alert',
        message: `${outside.length} value(s) of "${spec.name}" fall outside ${allowed} (rows ${list(outside)})`,
      });
    }
  }
  return findings;
}

function duplicateFindings(rows: CreditRow[], header: string[], idColumn: string | undefined): DataQualityFinding[] {
  const findings: DataQualityFinding[] = [];
  const dupes = (key: (r: CreditRow) => string | null) => {
    const seen = new Set<string>();
    const repeated: number[] = [];
    rows.forEach((r, i) => {
      const k = key(r);
      if (k === null) return;
      if (seen.has(k)) repeated.push(i + 1);
      seen.add(k);
    });
    return repeated;
  };
  if (idColumn && header.includes(idColumn)) {
    const ids = dupes((r) => (r[idColumn] === null || r[idColumn] === undefined ? null : String(r[idColumn])));
    if (ids.length > 0) {
      findings.push({ check: 'duplicates', column: idColumn, value: ids.length, threshold: 0, severity: 'alert', message: `${ids.length} row(s) repeat an existing "${idColumn}" (rows ${list(ids)})` });
    }
  }
  const whole = dupes((r) => JSON.stringify(header.map((c) => r[c] ?? null)));
  if (whole.length > 0) {
    findings.push({ check: 'duplicates', column: null, value: whole.length, threshold: 0, severity: 'alert', message: `${whole.length} row(s) are exact copies of an earlier row (rows ${list(whole)})` });
  }
  return findings;
}

function ruleFindings(rules: RowRule[], rows: CreditRow[]): DataQualityFinding[] {
  return evaluateRules(rules, rows).flatMap((o): DataQualityFinding[] => {
    const severity = o.rule.severity ?? 'alert';
    if (o.compileError) {
      return [{ check: 'rule', column: null, value: o.rule.name, threshold: null, severity: 'alert', message: `rule "${o.rule.name}" (${o.rule.expression}) does not parse: ${o.compileError}` }];
    }
    const out: DataQualityFinding[] = [];
    if (o.violations.length > 0) {
      out.push({ check: 'rule', column: null, value: o.violations.length, threshold: 0, severity, message: `${o.violations.length} row(s) break rule "${o.rule.name}" (${o.rule.expression}) (rows ${list(o.violations)})` });
    }
    if (o.errors.length > 0) {
      out.push({ check: 'rule', column: null, value: o.errors.length, threshold: 0, severity, message: `rule "${o.rule.name}" could not be evaluated on ${o.errors.length} row(s) (rows ${list(o.errors)}): ${o.firstError}` });
    }
    return out;
  });
}

function timeGapFindings(rows: CreditRow[], window: { column: string; maxGapMinutes: number }): DataQualityFinding[] {
  const times = rows
    .map((r) => r[window.column])
    .map((v) => (typeof v === 'string' ? Date.parse(v) : typeof v === 'number' ? v : Number.NaN))
    .filter((t) => Number.isFinite(t))
    .sort((a, b) => a - b);
  const maxGapMs = window.maxGapMinutes * 60_000;
  let gaps = 0;
  let largest = 0;
  let largestAt = 0;
  for (let i = 1; i < times.length; i++) {
    const gap = times[i]! - times[i - 1]!;
    if (gap > maxGapMs) gaps++;
    if (gap > largest) [largest, largestAt] = [gap, times[i - 1]!];
  }
  if (gaps === 0) return [];
  return [{
    check: 'time_gap', column: window.column, value: largest / 60_000, threshold: window.maxGapMinutes, severity: 'alert',
    message: `${gaps} gap(s) in "${window.column}" exceed ${window.maxGapMinutes} min; the largest is ${(largest / 60_000).toFixed(1)} min after ${new Date(largestAt).toISOString()}`,
  }];
}

export function createLocalDataQuality(options: LocalDataQualityOptions): DataQuality {
  const columns = options.columns ?? CREDIT_COLUMNS;
  const defaultReference = options.defaultReference ?? 'credit-train';
  const idColumn = options.idColumn ?? columns.find((c) => c.type === 'string')?.name;
  const clock = options.clock ?? systemClock;
  if (options.timeWindow && !(options.timeWindow.maxGapMinutes > 0)) {
    throw new UserError('timeWindow.maxGapMinutes must be a positive number', { code: 'config_invalid' });
  }

  return {
    async check(dataset, checkOptions = {}) {
      const data = await readDataset(options.datasetsDir, dataset, columns);
      const findings = [
        ...schemaFindings(data, columns),
        ...valueFindings(data.rows, data.header, columns),
        ...duplicateFindings(data.rows, data.header, idColumn),
        ...ruleFindings(options.rules ?? [], data.rows),
        ...(options.timeWindow ? timeGapFindings(data.rows, options.timeWindow) : []),
      ];
      let reference: string | null = checkOptions.reference ?? defaultReference;
      if (reference === dataset) {
        reference = null;
      } else {
        let ref: LoadedDataset | undefined;
        try {
          ref = await readDataset(options.datasetsDir, reference, columns);
        } catch (err) {
          // An explicitly named reference must exist; a missing default only skips drift.
          if (checkOptions.reference !== undefined || !(err instanceof UserError && err.code === 'not_found')) throw err;
          findings.push({ check: 'drift', column: null, value: null, threshold: null, severity: 'info', message: `reference dataset "${reference}" not found: drift not measured` });
          reference = null;
        }
        if (ref) findings.push(...driftFindings(ref.rows, data.rows, columns, await options.scoreWith?.()));
      }
      const report: DataQualityReport = {
        dataset,
        dataVersion: data.dataVersion,
        reference,
        rows: data.rows.length,
        checkedAt: new Date(clock.now()).toISOString(),
        findings,
        passed: findings.every((f) => f.severity !== 'alert'),
      };
      return report;
    },
  };
}
