// One data contract file: YAML read node by node with the policy files' readers, so every
// problem is reported with file:line, all at once. Cross-file checks live in load-contracts.ts.
import { createHash } from 'node:crypto';
import { isMap, isScalar, isSeq, LineCounter, parseDocument } from 'yaml';
// The policy files' readers themselves, not the policy room's door: the door brings the
// gate along, and the trainer's worker thread (which checks contracts) must not load it.
import { parseSpan } from '../policy/duration.js';
import {
  IssueSink,
  readBoolean,
  readFields,
  readNumber,
  readString,
  readStringList,
  type Field,
  type PolicyIssue,
} from '../policy/yaml-nodes.js';
import { compileRowCondition } from './row-condition.js';
import {
  CONTRACT_COLUMN_TYPES,
  RULE_SEVERITIES,
  type ContractColumn,
  type ContractColumnType,
  type DataContract,
  type FreshnessRule,
  type GapRule,
  type RowCountRule,
  type RowRuleSpec,
  type RuleSeverity,
  type UniqueRule,
} from './types.js';

export const CONTRACT_API_VERSION = 'mlops-agent/v1';
export const CONTRACT_KIND = 'DataContract';

const TOP_FIELDS = [
  'apiVersion',
  'kind',
  'metadata',
  'datasets',
  'reference',
  'model',
  'rows',
  'freshness',
  'columns',
  'unique',
  'gaps',
  'rules',
] as const;
const METADATA_FIELDS = ['name', 'description'] as const;
const COLUMN_FIELDS = ['type', 'nullable', 'maxNullRate', 'min', 'max', 'values', 'drift', 'severity'] as const;
const UNIQUE_FIELDS = ['id', 'columns', 'severity'] as const;
const ROWS_FIELDS = ['min', 'max', 'severity'] as const;
const FRESHNESS_FIELDS = ['column', 'maxAge', 'severity'] as const;
const GAP_FIELDS = ['id', 'column', 'by', 'maxGap', 'severity'] as const;
const RULE_FIELDS = ['id', 'when', 'reason', 'severity', 'window'] as const;
const WINDOW_FIELDS = ['column', 'size', 'maxRows'] as const;
const ID = /^[a-z0-9][a-z0-9._-]*$/;
/** The ids a column's own checks report under, e.g. `income.range`. */
export const COLUMN_CHECKS = ['present', 'type', 'nulls', 'range', 'values'] as const;
export const ROWS_RULE_ID = 'rows.count';
export const freshnessRuleId = (f: Pick<FreshnessRule, 'column'>) => `${f.column}.freshness`;
const NAME = /^[a-z0-9][a-z0-9-]*$/;
const DATASET_PATTERN = /^[a-z0-9*][a-z0-9._*-]*$/;
const TIME_TYPES: readonly ContractColumnType[] = ['date', 'timestamp'];

export interface ParsedContractFile {
  file: string;
  contract: DataContract | null;
  /** Lines of the contract's name, for duplicate-name complaints. */
  nameLine: number;
  issues: PolicyIssue[];
}

const isNull = (node: unknown) => isScalar(node) && node.value === null;

function readSeverity(sink: IssueSink, fields: Map<string, Field>, what: string): RuleSeverity {
  const field = fields.get('severity');
  if (!field) return 'hard';
  const value = isScalar(field.value) ? field.value.value : undefined;
  if (typeof value === 'string' && (RULE_SEVERITIES as readonly string[]).includes(value)) return value as RuleSeverity;
  sink.add(
    field.value,
    `${what} severity must be hard (the trainer refuses the data) or soft (reported for a person)`,
    field.line,
  );
  return 'hard';
}

function readSpan(sink: IssueSink, field: Field, what: string): { ms: number; text: string } | null {
  const text = readString(sink, field, what);
  if (text === null) return null;
  const parsed = parseSpan(text);
  if ('error' in parsed) sink.add(field.value, `${what}: ${parsed.error}`, field.line);
  else if (parsed.ms <= 0) sink.add(field.value, `${what} must be longer than zero`, field.line);
  else return { ms: parsed.ms, text };
  return null;
}

export function parseContractFile(file: string, text: string): ParsedContractFile {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: true, uniqueKeys: false });
  const sink = new IssueSink(file, lineCounter);
  const result: ParsedContractFile = { file, contract: null, nameLine: 1, issues: sink.issues };
  if (doc.errors.length > 0) {
    for (const err of doc.errors)
      sink.issues.push({
        file,
        line: err.linePos?.[0]?.line ?? 1,
        message: `YAML syntax error: ${err.message.split('\n')[0]}`,
      });
    return result;
  }
  if (doc.contents === null || isNull(doc.contents)) {
    sink.issues.push({
      file,
      line: 1,
      message: `the file is empty; a data contract starts with "apiVersion: ${CONTRACT_API_VERSION}" and "kind: ${CONTRACT_KIND}"`,
    });
    return result;
  }
  const top = readFields(sink, doc.contents, 'the contract file', TOP_FIELDS, 1);
  if (!top) return result;

  const apiVersion = top.get('apiVersion');
  if (!apiVersion || !isScalar(apiVersion.value) || apiVersion.value.value !== CONTRACT_API_VERSION)
    sink.add(apiVersion?.value, `apiVersion must be "${CONTRACT_API_VERSION}"`, apiVersion?.line ?? 1);
  const kind = top.get('kind');
  if (!kind || !isScalar(kind.value) || kind.value.value !== CONTRACT_KIND)
    sink.add(kind?.value, `kind must be "${CONTRACT_KIND}"`, kind?.line ?? 1);

  let name: string | null = null;
  let description: string | null = null;
  const metadata = top.get('metadata');
  const meta = metadata ? readFields(sink, metadata.value, 'metadata', METADATA_FIELDS, metadata.line) : null;
  const nameField = meta?.get('name');
  if (!nameField)
    sink.add(
      metadata?.value ?? doc.contents,
      'the contract has no metadata.name; name the dataset kind, e.g. "metadata: { name: credit }"',
      metadata?.line ?? 1,
    );
  else {
    result.nameLine = nameField.line;
    name = readString(sink, nameField, 'metadata.name');
    if (name !== null && !NAME.test(name))
      sink.add(
        nameField.value,
        `metadata.name "${name}" may use only lowercase letters, digits and "-"`,
        nameField.line,
      );
  }
  const descriptionField = meta?.get('description');
  if (descriptionField) description = readString(sink, descriptionField, 'metadata.description');

  let datasets: string[] = [];
  const datasetsField = top.get('datasets');
  if (!datasetsField)
    sink.add(doc.contents, 'the contract has no "datasets"; list the dataset names it covers, e.g. [credit-*]', 1);
  else {
    for (const d of readStringList(sink, datasetsField, 'datasets', { allowSingle: true }) ?? []) {
      if (DATASET_PATTERN.test(d.value)) datasets.push(d.value);
      else
        sink.issues.push({
          file,
          line: d.line,
          message: `datasets entry "${d.value}" is not a dataset name or pattern (lowercase letters, digits, ".", "_", "-", and "*" for any run of characters)`,
        });
    }
  }
  datasets = [...new Set(datasets)];
  const optionalName = (key: 'reference' | 'model') => {
    const field = top.get(key);
    return field && !isNull(field.value) ? readString(sink, field, key) : null;
  };
  const reference = optionalName('reference');
  const model = optionalName('model');

  const columns = readColumns(sink, top.get('columns'), doc.contents);
  const names = columns.map((c) => c.name);
  const column = (n: string) => columns.find((c) => c.name === n);
  /** A column the contract declares, of one of `types` when given; reports at `node` otherwise. */
  const needColumn = (field: Field, what: string, types?: readonly ContractColumnType[]): string | null => {
    const n = readString(sink, field, what);
    if (n === null) return null;
    const c = column(n);
    if (!c)
      sink.add(
        field.value,
        `${what} "${n}" is not a column of this contract (columns: ${names.join(', ') || 'none'})`,
        field.line,
      );
    else if (types && !types.includes(c.type))
      sink.add(field.value, `${what} "${n}" must be a column of type ${types.join(' or ')}, not ${c.type}`, field.line);
    else return n;
    return null;
  };

  let rows: RowCountRule | null = null;
  const rowsField = top.get('rows');
  if (rowsField && !isNull(rowsField.value)) {
    const f = readFields(sink, rowsField.value, 'rows', ROWS_FIELDS, rowsField.line);
    if (f) {
      const min = f.get('min') ? readNumber(sink, f.get('min')!, 'rows.min', { min: 0 }) : null;
      const max = f.get('max') ? readNumber(sink, f.get('max')!, 'rows.max', { min: 1 }) : null;
      if (min === null && max === null)
        sink.add(rowsField.value, 'rows needs min, max or both, e.g. "rows: { min: 100 }"', rowsField.line);
      else if (min !== null && max !== null && min > max)
        sink.add(rowsField.value, `rows.min (${min}) is above rows.max (${max})`, rowsField.line);
      rows = { min, max, severity: readSeverity(sink, f, 'rows'), file, line: rowsField.line };
    }
  }

  let freshness: FreshnessRule | null = null;
  const freshField = top.get('freshness');
  if (freshField && !isNull(freshField.value)) {
    const f = readFields(sink, freshField.value, 'freshness', FRESHNESS_FIELDS, freshField.line);
    const c = f?.get('column') ? needColumn(f.get('column')!, 'freshness.column', TIME_TYPES) : null;
    const age = f?.get('maxAge') ? readSpan(sink, f.get('maxAge')!, 'freshness.maxAge') : null;
    if (f && (!f.has('column') || !f.has('maxAge')))
      sink.add(
        freshField.value,
        'freshness needs column and maxAge, e.g. "{ column: application_date, maxAge: 90d }"',
        freshField.line,
      );
    if (f && c && age)
      freshness = {
        column: c,
        maxAgeMs: age.ms,
        maxAge: age.text,
        severity: readSeverity(sink, f, 'freshness'),
        file,
        line: freshField.line,
      };
  }

  const unique: UniqueRule[] = [];
  forEachItem(sink, top.get('unique'), 'unique', (node, line, label) => {
    const f = readFields(sink, node, label, UNIQUE_FIELDS, line);
    const colsField = f?.get('columns');
    if (f && !colsField)
      sink.add(node, `${label} has no "columns"; list the columns whose values together must be unique`, line);
    const cols = colsField ? readStringList(sink, colsField, `${label} columns`, { allowSingle: true }) : null;
    const bad = (cols ?? []).filter((c) => !column(c.value));
    for (const b of bad)
      sink.issues.push({
        file,
        line: b.line,
        message: `${label} names "${b.value}", which is not a column of this contract (columns: ${names.join(', ')})`,
      });
    const id = f?.get('id')
      ? readId(sink, f.get('id')!, `${label} id`)
      : cols
        ? `${cols.map((c) => c.value).join('+')}.unique`
        : null;
    if (f && cols && bad.length === 0 && id)
      unique.push({ id, columns: cols.map((c) => c.value), severity: readSeverity(sink, f, label), file, line });
  });

  const gaps: GapRule[] = [];
  forEachItem(sink, top.get('gaps'), 'gaps', (node, line, label) => {
    const f = readFields(sink, node, label, GAP_FIELDS, line);
    if (!f) return;
    if (!f.has('column') || !f.has('maxGap'))
      sink.add(node, `${label} needs column and maxGap, e.g. "{ column: quote_time, by: symbol, maxGap: 2m }"`, line);
    const c = f.get('column') ? needColumn(f.get('column')!, `${label} column`, TIME_TYPES) : null;
    const by = f.get('by') && !isNull(f.get('by')!.value) ? needColumn(f.get('by')!, `${label} by`) : null;
    const gap = f.get('maxGap') ? readSpan(sink, f.get('maxGap')!, `${label} maxGap`) : null;
    const id = f.get('id') ? readId(sink, f.get('id')!, `${label} id`) : c ? `${c}.gaps` : null;
    if (c && gap && id && (by !== null || !f.get('by') || isNull(f.get('by')!.value)))
      gaps.push({
        id,
        column: c,
        by,
        maxGapMs: gap.ms,
        maxGap: gap.text,
        severity: readSeverity(sink, f, label),
        file,
        line,
      });
  });

  const rules: RowRuleSpec[] = [];
  forEachItem(sink, top.get('rules'), 'rules', (node, line, label) => {
    const f = readFields(sink, node, label, RULE_FIELDS, line);
    if (!f) return;
    const idField = f.get('id');
    if (!idField) sink.add(node, `${label} has no "id"; give it a short name such as "bid-not-above-ask"`, line);
    const id = idField ? readId(sink, idField, `${label} id`) : null;
    const what = id ? `rule "${id}"` : label;
    for (const key of ['when', 'reason', 'severity'] as const) {
      if (!f.has(key))
        sink.add(
          node,
          `${what} has no "${key}"${key === 'severity' ? '; say hard (the trainer refuses the data) or soft (reported for a person)' : key === 'when' ? '; write CEL over one row, e.g. "row.bid <= row.ask"' : '; say in a sentence what a broken row means'}`,
          line,
        );
    }
    const when = f.get('when') ? readString(sink, f.get('when')!, `${what} when`) : null;
    if (when !== null) {
      try {
        compileRowCondition(when, names);
      } catch (err) {
        sink.add(
          f.get('when')!.value,
          `${what} when: ${err instanceof Error ? err.message : String(err)}`,
          f.get('when')!.line,
        );
      }
    }
    const reason = f.get('reason') ? readString(sink, f.get('reason')!, `${what} reason`) : null;
    let window: RowRuleSpec['window'] = null;
    const windowField = f.get('window');
    if (windowField) {
      const w = readFields(sink, windowField.value, `${what} window`, WINDOW_FIELDS, windowField.line);
      if (w && (!w.has('column') || !w.has('size') || !w.has('maxRows')))
        sink.add(
          windowField.value,
          `${what} window needs column, size and maxRows, e.g. "{ column: quote_time, size: 1m, maxRows: 2 }"`,
          windowField.line,
        );
      const c = w?.get('column') ? needColumn(w.get('column')!, `${what} window.column`, TIME_TYPES) : null;
      const size = w?.get('size') ? readSpan(sink, w.get('size')!, `${what} window.size`) : null;
      const maxRows = w?.get('maxRows')
        ? readNumber(sink, w.get('maxRows')!, `${what} window.maxRows`, { min: 0 })
        : null;
      if (maxRows !== null && !Number.isInteger(maxRows))
        sink.add(w!.get('maxRows')!.value, `${what} window.maxRows must be a whole number`, w!.get('maxRows')!.line);
      if (c && size && maxRows !== null) window = { column: c, sizeMs: size.ms, size: size.text, maxRows };
    }
    const severity = f.has('severity') ? readSeverity(sink, f, what) : 'hard';
    if (id && when !== null && reason !== null) rules.push({ id, when, reason, severity, window, file, line });
  });

  // Every rule id names a violation; two with one name would make a report ambiguous.
  const ids = new Map<string, number>();
  const claim = (id: string, line: number) => {
    const first = ids.get(id);
    if (first !== undefined)
      sink.issues.push({
        file,
        line,
        message: `rule id "${id}" is used twice (first at line ${first}); give each rule its own id`,
      });
    else ids.set(id, line);
  };
  for (const c of columns) for (const check of COLUMN_CHECKS) claim(`${c.name}.${check}`, c.line);
  if (rows) claim(ROWS_RULE_ID, rows.line);
  if (freshness) claim(freshnessRuleId(freshness), freshness.line);
  for (const r of [...unique, ...gaps, ...rules]) claim(r.id, r.line);

  if (sink.issues.length > 0 || name === null) return result;
  result.contract = {
    name,
    description,
    file,
    hash: createHash('sha256').update(text).digest('hex'),
    datasets,
    reference,
    model,
    columns,
    columnsLine: top.get('columns')?.line ?? 1,
    unique,
    rows,
    freshness,
    gaps,
    rules,
  };
  return result;
}

function readId(sink: IssueSink, field: Field, what: string): string | null {
  const id = readString(sink, field, what);
  if (id !== null && !ID.test(id)) {
    sink.add(field.value, `${what} "${id}" may use only lowercase letters, digits, ".", "_" and "-"`, field.line);
    return null;
  }
  return id;
}

function forEachItem(
  sink: IssueSink,
  field: Field | undefined,
  key: string,
  each: (node: unknown, line: number, label: string) => void,
): void {
  if (!field || isNull(field.value)) return;
  if (!isSeq(field.value)) {
    sink.add(field.value, `${key} must be a list; start each entry with "- "`, field.line);
    return;
  }
  field.value.items.forEach((node, i) => each(node, sink.lineOf(node, field.line), `${key} #${i + 1}`));
}

function readColumns(sink: IssueSink, field: Field | undefined, top: unknown): ContractColumn[] {
  if (!field) {
    sink.add(
      top,
      'the contract has no "columns"; map each column name to its type, e.g. "income: { type: number, min: 0 }"',
      1,
    );
    return [];
  }
  if (!isMap(field.value) || field.value.items.length === 0) {
    sink.add(
      field.value,
      'columns must map each column name to its spec, e.g. "income: { type: number, min: 0 }"',
      field.line,
    );
    return [];
  }
  const columnNames = field.value.items.map((p) => (isScalar(p.key) ? String(p.key.value) : ''));
  const specs = readFields(sink, field.value, 'columns', columnNames, field.line) ?? new Map<string, Field>();
  const out: ContractColumn[] = [];
  for (const [name, spec] of specs) {
    const what = `column "${name}"`;
    const f = readFields(sink, spec.value, what, COLUMN_FIELDS, spec.line);
    if (!f) continue;
    const before = sink.issues.length;
    const typeField = f.get('type');
    const typeValue = typeField && isScalar(typeField.value) ? typeField.value.value : undefined;
    let type: ContractColumnType = 'string';
    if (!typeField)
      sink.add(spec.value, `${what} has no "type"; use one of: ${CONTRACT_COLUMN_TYPES.join(', ')}`, spec.line);
    else if (typeof typeValue === 'string' && (CONTRACT_COLUMN_TYPES as readonly string[]).includes(typeValue))
      type = typeValue as ContractColumnType;
    else sink.add(typeField.value, `${what} type must be one of: ${CONTRACT_COLUMN_TYPES.join(', ')}`, typeField.line);
    const numeric = type === 'number' || type === 'integer';
    const nullable = f.get('nullable') ? (readBoolean(sink, f.get('nullable')!, `${what} nullable`) ?? false) : false;
    let maxNullRate = nullable ? 1 : 0;
    const rateField = f.get('maxNullRate');
    if (rateField) {
      if (!nullable)
        sink.add(
          rateField.keyNode,
          `${what} sets maxNullRate but is not nullable; add "nullable: true" or drop maxNullRate`,
          rateField.line,
        );
      else maxNullRate = readNumber(sink, rateField, `${what} maxNullRate`, { min: 0, max: 1 }) ?? 1;
    }
    const bound = (key: 'min' | 'max') => {
      const b = f.get(key);
      if (!b) return null;
      if (!numeric) {
        sink.add(b.keyNode, `${what} is of type ${type}; ${key} applies only to number and integer columns`, b.line);
        return null;
      }
      return readNumber(sink, b, `${what} ${key}`);
    };
    const min = bound('min');
    const max = bound('max');
    if (min !== null && max !== null && min > max)
      sink.add(spec.value, `${what} min (${min}) is above max (${max})`, spec.line);
    let values: string[] | null = null;
    const valuesField = f.get('values');
    if (valuesField) {
      if (type !== 'category' && type !== 'string')
        sink.add(
          valuesField.keyNode,
          `${what} is of type ${type}; values applies only to category and string columns`,
          valuesField.line,
        );
      else if (
        isSeq(valuesField.value) &&
        valuesField.value.items.every(
          (i) => isScalar(i) && (typeof i.value === 'string' || typeof i.value === 'number'),
        )
      ) {
        values = valuesField.value.items.map((i) => String((i as { value: unknown }).value));
        if (values.length === 0) sink.add(valuesField.value, `${what} values must not be empty`, valuesField.line);
      } else sink.add(valuesField.value, `${what} values must be a list, e.g. [A, B]`, valuesField.line);
    }
    if (type === 'category' && !valuesField)
      sink.add(spec.value, `${what} is a category; list its allowed values, e.g. "values: [A, B]"`, spec.line);
    const driftField = f.get('drift');
    const drift = driftField ? (readBoolean(sink, driftField, `${what} drift`) ?? false) : false;
    if (drift && !numeric && type !== 'category')
      sink.add(
        driftField!.value,
        `${what} is of type ${type}; drift is measured only on number, integer and category columns`,
        driftField!.line,
      );
    const severity = readSeverity(sink, f, what);
    if (sink.issues.length === before)
      out.push({
        name,
        type,
        nullable,
        maxNullRate,
        min,
        max,
        values,
        drift,
        severity,
        file: sink.file,
        line: spec.line,
      });
  }
  return out;
}
