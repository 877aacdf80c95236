// How every listing prints (runs list, approvals list, audit tail): a header row and
// aligned columns, cut to fit (`-o table`, the default) or whole (`-o wide`); or ONE JSON
// document (`-o json`), or JSON lines (`-o jsonl`, what `--json` always printed).
import Table from 'cli-table3';
import { Option } from 'commander';
import { jsonSafe, terminalSafe } from '../terminal-safe.js';
import { bold, colorOn } from './style.js';

export const OUTPUT_FORMATS = ['table', 'wide', 'json', 'jsonl'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

/** `-o, --output <format>`, the same on every listing. */
export function outputOption(): Option {
  return new Option(
    '-o, --output <format>',
    'table (cut to fit), wide (every column whole), json (one JSON document), jsonl (one JSON object a line)',
  )
    .choices([...OUTPUT_FORMATS])
    .default('table');
}

/** `--json` kept for scripts written before -o: the same as `-o jsonl`. */
export function formatOf(opts: { output?: OutputFormat; json?: boolean }): OutputFormat {
  return opts.json ? 'jsonl' : (opts.output ?? 'table');
}

export interface Column<T> {
  header: string;
  /** The cell's text (made terminal-safe here); styled after cutting, by `style`. */
  value(item: T): string;
  /** Longest a cell may be in `-o table`; longer text ends in "…". Omitted: never cut. */
  max?: number;
  align?: 'left' | 'right';
  /** Colour or symbol for a terminal, applied to the cut, escaped text. */
  style?(text: string, item: T): string;
}

function cut(text: string, max: number | undefined): string {
  return max === undefined || text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/** Lines of a borderless table: a header row, then one row per item, columns two spaces apart. */
export function renderTable<T>(items: readonly T[], columns: readonly Column<T>[], wide: boolean): string {
  const table = new Table({
    head: columns.map((c) => (colorOn ? bold(c.header) : c.header)),
    colAligns: columns.map((c) => c.align ?? 'left'),
    chars: {
      top: '',
      'top-mid': '',
      'top-left': '',
      'top-right': '',
      bottom: '',
      'bottom-mid': '',
      'bottom-left': '',
      'bottom-right': '',
      left: '',
      'left-mid': '',
      mid: '',
      'mid-mid': '',
      right: '',
      'right-mid': '',
      middle: '  ',
    },
    style: { 'padding-left': 0, 'padding-right': 0, head: [], border: [], compact: true },
  });
  for (const item of items) {
    table.push(
      columns.map((c) => {
        const text = cut(terminalSafe(c.value(item)), wide ? undefined : c.max);
        return c.style ? c.style(text, item) : text;
      }),
    );
  }
  // The last column is padded to its width by cli-table3: trailing spaces help no one.
  return `${table
    .toString()
    .split('\n')
    .map((line) => line.trimEnd())
    .join('\n')}\n`;
}

/** The whole listing as one string for stdout; `empty` is what a table says when there is nothing. */
export function renderListing<T>(
  items: readonly T[],
  format: OutputFormat,
  columns: readonly Column<T>[],
  empty: string,
  asJson: (item: T) => unknown = (i) => i,
): string {
  switch (format) {
    case 'json':
      return `${jsonSafe(JSON.stringify(items.map(asJson), null, 2))}\n`;
    case 'jsonl':
      return items.map((item) => `${jsonSafe(JSON.stringify(asJson(item)))}\n`).join('');
    default:
      return items.length === 0 ? `${empty}\n` : renderTable(items, columns, format === 'wide');
  }
}
