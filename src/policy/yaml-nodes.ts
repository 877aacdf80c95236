// Reading a YAML document node by node, so every complaint about a policy file can name
// the line the operator has to fix.
import { isAlias, isMap, isScalar, isSeq, type LineCounter, type Node, type YAMLMap } from 'yaml';

export interface PolicyIssue {
  file: string;
  line: number;
  message: string;
}

/** Collects issues for one file; every check reports here instead of throwing, so all are shown at once. */
export class IssueSink {
  readonly issues: PolicyIssue[] = [];
  constructor(
    readonly file: string,
    private readonly lines: LineCounter,
  ) {}

  lineOf(node: unknown, fallback = 1): number {
    const range = (node as Node | null | undefined)?.range;
    return range ? this.lines.linePos(range[0]).line : fallback;
  }

  add(node: unknown, message: string, fallbackLine = 1): void {
    this.issues.push({ file: this.file, line: this.lineOf(node, fallbackLine), message });
  }
}

export interface Field {
  key: string;
  keyNode: unknown;
  value: unknown;
  line: number;
}

/**
 * The fields of a mapping, keyed by name. Unknown and duplicate keys are reported with
 * the list of allowed ones, since a misspelt `efect:` would otherwise be silently ignored.
 */
export function readFields(
  sink: IssueSink,
  node: unknown,
  what: string,
  allowed: readonly string[],
  fallbackLine: number,
): Map<string, Field> | null {
  if (!isMap(node)) {
    sink.add(node, `${what} must be a mapping of key: value`, fallbackLine);
    return null;
  }
  const fields = new Map<string, Field>();
  for (const pair of (node as YAMLMap).items) {
    const key = isScalar(pair.key) ? String(pair.key.value) : null;
    const line = sink.lineOf(pair.key, sink.lineOf(node, fallbackLine));
    if (key === null) {
      sink.add(pair.key, `${what} has a key that is not a plain name`, line);
      continue;
    }
    if (!allowed.includes(key)) {
      sink.add(pair.key, `${what} has unknown field "${key}"; allowed fields are: ${allowed.join(', ')}`, line);
      continue;
    }
    if (fields.has(key)) {
      sink.add(pair.key, `${what} sets "${key}" twice; keep one`, line);
      continue;
    }
    if (isAlias(pair.value)) {
      sink.add(pair.value, `${what}.${key} uses a YAML alias; write the value out so the policy reads plainly`, line);
      continue;
    }
    fields.set(key, { key, keyNode: pair.key, value: pair.value, line });
  }
  return fields;
}

export function readString(sink: IssueSink, field: Field, what: string): string | null {
  const node = field.value;
  if (!isScalar(node) || typeof node.value !== 'string' || node.value.trim() === '') {
    sink.add(node, `${what} must be a non-empty string`, field.line);
    return null;
  }
  return node.value;
}

/** A list of non-empty strings; a single string is accepted as a list of one when `allowSingle`. */
export function readStringList(
  sink: IssueSink,
  field: Field,
  what: string,
  options: { allowSingle?: boolean; allowEmpty?: boolean } = {},
): { value: string; line: number }[] | null {
  const node = field.value;
  if (options.allowSingle && isScalar(node) && typeof node.value === 'string') {
    return [{ value: node.value, line: sink.lineOf(node, field.line) }];
  }
  if (isScalar(node) && node.value === null && options.allowEmpty) return [];
  if (!isSeq(node)) {
    sink.add(node, `${what} must be a list of strings, e.g. [a, b]`, field.line);
    return null;
  }
  const out: { value: string; line: number }[] = [];
  for (const item of node.items) {
    if (!isScalar(item) || typeof item.value !== 'string' || item.value.trim() === '') {
      sink.add(item, `${what} must contain only non-empty strings`, field.line);
      return null;
    }
    out.push({ value: item.value, line: sink.lineOf(item, field.line) });
  }
  if (out.length === 0 && !options.allowEmpty) {
    sink.add(node, `${what} must not be empty`, field.line);
    return null;
  }
  return out;
}

export function readPositiveInt(sink: IssueSink, field: Field, what: string): number | null {
  const node = field.value;
  if (!isScalar(node) || typeof node.value !== 'number' || !Number.isInteger(node.value) || node.value < 1) {
    sink.add(node, `${what} must be a whole number of at least 1`, field.line);
    return null;
  }
  return node.value;
}

export function readBoolean(sink: IssueSink, field: Field, what: string): boolean | null {
  const node = field.value;
  if (!isScalar(node) || typeof node.value !== 'boolean') {
    sink.add(node, `${what} must be true or false`, field.line);
    return null;
  }
  return node.value;
}

/** A finite number, within [min, max] when given. */
export function readNumber(
  sink: IssueSink,
  field: Field,
  what: string,
  bounds: { min?: number; max?: number } = {},
): number | null {
  const node = field.value;
  const value = isScalar(node) ? node.value : undefined;
  const { min = -Infinity, max = Infinity } = bounds;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    const range =
      Number.isFinite(min) && Number.isFinite(max)
        ? ` from ${min} to ${max}`
        : Number.isFinite(min)
          ? ` of at least ${min}`
          : '';
    sink.add(node, `${what} must be a number${range}`, field.line);
    return null;
  }
  return value;
}
