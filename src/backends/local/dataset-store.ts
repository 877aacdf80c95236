// Datasets of the local lab: CSV files under <home>/lab/datasets, typed by the credit
// schema, versioned by the sha256 of their bytes (as DVC does).
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { writeFileAtomic } from '../../durable-file.js';
import { UserError } from '../../errors.js';
import { CREDIT_COLUMNS, type ColumnSpec, type CreditRow } from './credit-schema.js';

export interface LoadedDataset {
  name: string;
  file: string;
  /** sha256 hex of the file's bytes */
  dataVersion: string;
  /** Columns present in the file's header, in order. */
  header: string[];
  rows: CreditRow[];
  /** Cells that did not parse as their column's type: kept as raw strings in `rows`. */
  typeErrors: { row: number; column: string; value: string }[];
}

const DATASET_NAME = /^[a-z0-9][a-z0-9._-]{0,99}$/;

export function datasetFile(datasetsDir: string, name: string): string {
  if (!DATASET_NAME.test(name)) {
    throw new UserError(
      `dataset name "${name}" is invalid: use lowercase letters, digits, ".", "_" or "-" (e.g. credit-recent)`,
    );
  }
  return join(datasetsDir, `${name}.csv`);
}

function parseCell(spec: ColumnSpec | undefined, raw: string): { value: string | number | null; ok: boolean } {
  if (raw === '') return { value: null, ok: true };
  if (!spec || spec.type === 'string' || spec.type === 'category' || spec.type === 'label')
    return { value: raw, ok: true };
  if (spec.type === 'date') return { value: raw, ok: !Number.isNaN(Date.parse(raw)) };
  const n = Number(raw);
  if (!Number.isFinite(n) || (spec.type === 'integer' && !Number.isInteger(n))) return { value: raw, ok: false };
  return { value: n, ok: true };
}

/** The data version (sha256 of the file's bytes) without parsing the file. */
export async function datasetVersion(datasetsDir: string, name: string): Promise<string> {
  const file = datasetFile(datasetsDir, name);
  try {
    return createHash('sha256')
      .update(await readFile(file))
      .digest('hex');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new UserError(`dataset "${name}" not found (looked for ${file})`, { code: 'not_found', cause: err });
    }
    throw err;
  }
}

export async function readDataset(
  datasetsDir: string,
  name: string,
  columns: ColumnSpec[] = CREDIT_COLUMNS,
): Promise<LoadedDataset> {
  const file = datasetFile(datasetsDir, name);
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new UserError(`dataset "${name}" not found (looked for ${file})`, { code: 'not_found', cause: err });
    }
    throw err;
  }
  const records = parse(bytes, { columns: false, skip_empty_lines: true, relax_column_count: true }) as string[][];
  const [header = [], ...body] = records;
  const specs = new Map(columns.map((c) => [c.name, c]));
  const rows: CreditRow[] = [];
  const typeErrors: LoadedDataset['typeErrors'] = [];
  body.forEach((cells, i) => {
    const row: CreditRow = {};
    header.forEach((column, j) => {
      const { value, ok } = parseCell(specs.get(column), cells[j] ?? '');
      row[column] = value;
      if (!ok) typeErrors.push({ row: i + 1, column, value: cells[j] ?? '' });
    });
    rows.push(row);
  });
  return { name, file, dataVersion: createHash('sha256').update(bytes).digest('hex'), header, rows, typeErrors };
}

function csvCell(value: string | number | null | undefined): string {
  if (value === null || value === undefined) return '';
  const s = String(value);
  return /[",\n\r]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

/** Writes atomically (temp file, fsync, rename) and returns the data version. */
export async function writeDataset(
  datasetsDir: string,
  name: string,
  rows: CreditRow[],
  columns: string[] = CREDIT_COLUMNS.map((c) => c.name),
): Promise<string> {
  const lines = [columns.join(',')];
  for (const row of rows) lines.push(columns.map((c) => csvCell(row[c])).join(','));
  const text = `${lines.join('\n')}\n`;
  await writeFileAtomic(datasetFile(datasetsDir, name), text);
  return createHash('sha256').update(text).digest('hex');
}
