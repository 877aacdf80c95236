// Checks a loaded dataset against its data contract: every rule the data breaks becomes a
// violation with its id, severity, the rows it affects, a few example rows and where the
// rule is written. Used by the lab's data checks and, as a second line of defence, by the
// trainer (inside its worker thread, so the contract arrives as plain data).
import {
  compileRowCondition,
  freshnessRuleId,
  ROWS_RULE_ID,
  type ContractColumn,
  type DataContract,
  type RuleSeverity,
} from '../../contracts/index.js';
import { UserError } from '../../errors.js';
import type { ContractViolation } from '../../../tools/ports.js';
import type { CreditRow } from './credit-schema.js';
import type { LoadedDataset } from './dataset-store.js';

export { columnSpecs } from './contract-columns.js';

const EXAMPLES = 3;
export const EXTRA_COLUMNS_RULE_ID = 'columns.unexpected';
export const NO_CONTRACT_RULE_ID = 'contract.missing';

export function noContractViolation(dataset: string): ContractViolation {
  return {
    rule: NO_CONTRACT_RULE_ID,
    severity: 'hard',
    column: null,
    rowsAffected: 0,
    examples: [],
    source: 'contracts.files (config)',
    message: `no data contract covers dataset "${dataset}": nothing says what valid data looks like, so it cannot pass; add its name (or a pattern such as "${dataset.split('-')[0]}-*") to the datasets of a contract in contracts.files`,
  };
}

const isMissing = (v: unknown) => v === null || v === undefined;
const pick = (row: CreditRow, columns: readonly string[]) =>
  Object.fromEntries(columns.map((c) => [c, row[c] ?? null]));
const timeOf = (v: unknown) => (typeof v === 'string' ? Date.parse(v) : typeof v === 'number' ? v : Number.NaN);
const rowsText = (rows: number[]) => rows.slice(0, 5).join(', ') + (rows.length > 5 ? ', ...' : '');

function violation(
  rule: string,
  source: { file: string; line: number; severity: RuleSeverity },
  column: string | null,
  rowNumbers: number[],
  rows: readonly CreditRow[],
  shown: readonly string[],
  message: string,
): ContractViolation {
  return {
    rule,
    severity: source.severity,
    column,
    rowsAffected: rowNumbers.length,
    examples: rowNumbers.slice(0, EXAMPLES).map((n) => ({ row: n, values: pick(rows[n - 1]!, shown) })),
    message: rowNumbers.length > 0 ? `${message} (rows ${rowsText(rowNumbers)})` : message,
    source: `${ruleFileName(source.file)}:${source.line}`,
  };
}

/**
 * The contract file as models, clients and reports show it: its folder and name
 * (`contracts/credit.yaml`), never the absolute path, which would tell them the machine's layout.
 */
function ruleFileName(file: string): string {
  return file.split(/[\\/]/).filter(Boolean).slice(-2).join('/');
}

function columnViolations(c: ContractColumn, data: LoadedDataset): ContractViolation[] {
  const { rows } = data;
  if (!data.header.includes(c.name)) {
    return [violation(`${c.name}.present`, c, c.name, [], rows, [], `column "${c.name}" is missing from the data`)];
  }
  const out: ContractViolation[] = [];
  const typeErrors = data.typeErrors.filter((e) => e.column === c.name).map((e) => e.row);
  if (typeErrors.length > 0)
    out.push(
      violation(
        `${c.name}.type`,
        c,
        c.name,
        typeErrors,
        rows,
        [c.name],
        `${typeErrors.length} value(s) of "${c.name}" are not of type ${c.type}`,
      ),
    );
  const empty: number[] = [];
  const outside: number[] = [];
  const unknown: number[] = [];
  rows.forEach((row, i) => {
    const v = row[c.name];
    if (isMissing(v)) empty.push(i + 1);
    else if (typeof v === 'number' && ((c.min !== null && v < c.min) || (c.max !== null && v > c.max)))
      outside.push(i + 1);
    else if (c.values && !c.values.includes(String(v))) unknown.push(i + 1);
  });
  const rate = rows.length > 0 ? empty.length / rows.length : 0;
  if (empty.length > 0 && (!c.nullable || rate > c.maxNullRate)) {
    const why = c.nullable
      ? `${(rate * 100).toFixed(2)}% > the ${(c.maxNullRate * 100).toFixed(2)}% allowed`
      : 'the contract requires a value in every row';
    out.push(
      violation(
        `${c.name}.nulls`,
        c,
        c.name,
        empty,
        rows,
        [c.name],
        `${empty.length} of ${rows.length} rows have no "${c.name}" (${why})`,
      ),
    );
  }
  if (outside.length > 0) {
    const bounds = `[${c.min ?? '-inf'}, ${c.max ?? 'inf'}]`;
    out.push(
      violation(
        `${c.name}.range`,
        c,
        c.name,
        outside,
        rows,
        [c.name],
        `${outside.length} of ${rows.length} values of "${c.name}" fall outside ${bounds}`,
      ),
    );
  }
  if (unknown.length > 0)
    out.push(
      violation(
        `${c.name}.values`,
        c,
        c.name,
        unknown,
        rows,
        [c.name],
        `${unknown.length} value(s) of "${c.name}" are not among ${c.values!.join(', ')}`,
      ),
    );
  return out;
}

function uniqueViolations(
  contract: DataContract,
  rows: readonly CreditRow[],
  header: readonly string[],
): ContractViolation[] {
  return contract.unique.flatMap((u) => {
    if (u.columns.some((c) => !header.includes(c))) return [];
    const seen = new Set<string>();
    const repeated: number[] = [];
    rows.forEach((row, i) => {
      if (u.columns.some((c) => isMissing(row[c]))) return;
      const key = JSON.stringify(u.columns.map((c) => row[c]));
      if (seen.has(key)) repeated.push(i + 1);
      seen.add(key);
    });
    return repeated.length > 0
      ? [
          violation(
            u.id,
            u,
            u.columns.length === 1 ? u.columns[0]! : null,
            repeated,
            rows,
            u.columns,
            `${repeated.length} row(s) repeat the ${u.columns.join(' + ')} of an earlier row`,
          ),
        ]
      : [];
  });
}

function rowCountViolations(contract: DataContract, rows: readonly CreditRow[]): ContractViolation[] {
  const r = contract.rows;
  if (!r) return [];
  const n = rows.length;
  if (r.min !== null && n < r.min)
    return [violation(ROWS_RULE_ID, r, null, [], rows, [], `${n} rows, fewer than the ${r.min} the contract requires`)];
  if (r.max !== null && n > r.max)
    return [violation(ROWS_RULE_ID, r, null, [], rows, [], `${n} rows, more than the ${r.max} the contract allows`)];
  return [];
}

function freshnessViolations(
  contract: DataContract,
  rows: readonly CreditRow[],
  header: readonly string[],
  nowMs: number,
): ContractViolation[] {
  const f = contract.freshness;
  if (!f || !header.includes(f.column)) return [];
  const newest = rows.reduce((max, row) => Math.max(max, timeOf(row[f.column])), Number.NEGATIVE_INFINITY);
  if (!Number.isFinite(newest))
    return [
      violation(
        freshnessRuleId(f),
        f,
        f.column,
        [],
        rows,
        [],
        `no row has a readable "${f.column}", so the data's age is unknown`,
      ),
    ];
  const ageMs = nowMs - newest;
  if (ageMs <= f.maxAgeMs) return [];
  return [
    violation(
      freshnessRuleId(f),
      f,
      f.column,
      [],
      rows,
      [],
      `the newest "${f.column}" is ${new Date(newest).toISOString()}, ${(ageMs / 86_400_000).toFixed(1)} days old (at most ${f.maxAge} allowed)`,
    ),
  ];
}

function gapViolations(
  contract: DataContract,
  rows: readonly CreditRow[],
  header: readonly string[],
): ContractViolation[] {
  return contract.gaps.flatMap((g) => {
    if (!header.includes(g.column) || (g.by && !header.includes(g.by))) return [];
    const groups = new Map<string, { t: number; row: number }[]>();
    rows.forEach((row, i) => {
      const t = timeOf(row[g.column]);
      if (!Number.isFinite(t)) return;
      const key = g.by ? String(row[g.by] ?? '') : '';
      const group = groups.get(key);
      if (group) group.push({ t, row: i + 1 });
      else groups.set(key, [{ t, row: i + 1 }]);
    });
    const after: number[] = [];
    let largest = 0;
    for (const points of groups.values()) {
      points.sort((a, b) => a.t - b.t);
      for (let i = 1; i < points.length; i++) {
        const gap = points[i]!.t - points[i - 1]!.t;
        if (gap > g.maxGapMs) after.push(points[i]!.row);
        largest = Math.max(largest, gap);
      }
    }
    if (after.length === 0) return [];
    after.sort((a, b) => a - b);
    const per = g.by ? ` within one "${g.by}"` : '';
    return [
      violation(
        g.id,
        g,
        g.column,
        after,
        rows,
        g.by ? [g.by, g.column] : [g.column],
        `${after.length} gap(s) in "${g.column}"${per} exceed ${g.maxGap}; the largest is ${(largest / 60_000).toFixed(1)} min; each example is the first row after a gap`,
      ),
    ];
  });
}

function ruleViolations(contract: DataContract, rows: readonly CreditRow[]): ContractViolation[] {
  const names = contract.columns.map((c) => c.name);
  return contract.rules.flatMap((r) => {
    const { columns, test } = compileRowCondition(r.when, names);
    const failed: number[] = [];
    let errors = 0;
    let firstError: string | null = null;
    rows.forEach((row, i) => {
      const result = test(row);
      if (result.ok && result.value) return;
      failed.push(i + 1);
      if (!result.ok) {
        errors++;
        firstError ??= result.error;
      }
    });
    let broken = failed;
    let windowNote = '';
    if (r.window && failed.length > 0) {
      const w = r.window;
      const buckets = new Map<number, number[]>();
      for (const n of failed) {
        const t = timeOf(rows[n - 1]![w.column]);
        // A row whose time does not parse cannot be placed in a window: it counts against the rule.
        const bucket = Number.isFinite(t) ? Math.floor(t / w.sizeMs) : Number.NaN;
        const members = buckets.get(bucket);
        if (members) members.push(n);
        else buckets.set(bucket, [n]);
      }
      const over = [...buckets.entries()].filter(([b, ns]) => Number.isNaN(b) || ns.length > w.maxRows);
      broken = over.flatMap(([, ns]) => ns).sort((a, b) => a - b);
      windowNote = ` in ${over.length} window(s) of ${w.size} with more than ${w.maxRows} (${failed.length} failing row(s) in all)`;
    }
    if (broken.length === 0) return [];
    const errorNote =
      errors > 0 ? `; ${errors} of them could not be evaluated (${firstError}), which counts as broken` : '';
    const shown = r.window && !columns.includes(r.window.column) ? [...columns, r.window.column] : columns;
    return [
      violation(
        r.id,
        r,
        null,
        broken,
        rows,
        shown,
        `${broken.length} row(s) break rule "${r.id}" (${r.when})${windowNote}${errorNote}: ${r.reason}`,
      ),
    ];
  });
}

/** Every rule of `contract` the data breaks, hard and soft, in the contract's order. */
export function checkContract(contract: DataContract, data: LoadedDataset, nowMs: number): ContractViolation[] {
  const known = new Set(contract.columns.map((c) => c.name));
  const extra = data.header.filter((c) => !known.has(c));
  const violations: ContractViolation[] = [
    ...rowCountViolations(contract, data.rows),
    ...contract.columns.flatMap((c) => columnViolations(c, data)),
    ...uniqueViolations(contract, data.rows, data.header),
    ...freshnessViolations(contract, data.rows, data.header, nowMs),
    ...gapViolations(contract, data.rows, data.header),
    ...ruleViolations(contract, data.rows),
  ];
  if (extra.length > 0) {
    violations.push({
      rule: EXTRA_COLUMNS_RULE_ID,
      severity: 'soft',
      column: null,
      rowsAffected: 0,
      examples: [],
      source: `${contract.file}:${contract.columnsLine}`,
      message: `column(s) ${extra.map((c) => `"${c}"`).join(', ')} are not in data contract "${contract.name}"; add them to its columns if they belong`,
    });
  }
  return violations;
}

/**
 * The second line of defence after the policy: whatever allowed the job, data that breaks
 * a hard rule is not trained on. Missing values the contract allows are filled with the
 * training median by the encoder; anything beyond that never reaches it.
 */
export function refuseBrokenData(
  contract: DataContract,
  dataset: string,
  violations: readonly ContractViolation[],
): void {
  const hard = violations.filter((v) => v.severity === 'hard');
  if (hard.length === 0) return;
  const [first, ...rest] = hard;
  const more = rest.length > 0 ? `; also broken: ${[...new Set(rest.map((v) => v.rule))].join(', ')}` : '';
  throw new UserError(
    `dataset "${dataset}" breaks hard rule "${first!.rule}" of data contract "${contract.name}" (${first!.source}): ${first!.message}${more}. The trainer does not train on data that breaks a hard rule: fix the data, or make the rule soft in the contract.`,
    { code: 'data_invalid' },
  );
}
