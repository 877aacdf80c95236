// Cross-field rules of a data contract: CEL over one row (`row.bid <= row.ask`), checked
// against the contract's columns when the file loads and planned once. A row passes only
// when the rule yields `true`: false, a CEL error (a null in arithmetic, a missing field)
// or any other value fails it, because @bufbuild/cel returns errors as values.
import { CelScalar, celEnv, isCelError, mapType, parse, plan, type CelInput } from '@bufbuild/cel';

const env = celEnv({ variables: { row: mapType(CelScalar.STRING, CelScalar.DYN) } });

export type RowValue = string | number | null;
export type RowResult = { ok: true; value: boolean } | { ok: false; error: string };
export type RowCondition = (row: Readonly<Record<string, RowValue>>) => RowResult;

export interface CompiledRowRule {
  /** The columns the rule reads (as `row.X`), in the order they first appear. */
  columns: string[];
  test: RowCondition;
}

type Expr = ReturnType<typeof parse>['expr'];

/** Columns a rule reads as `row.X`, and identifiers other than `row` (which are mistakes). */
function walk(
  expr: Expr | undefined,
  locals: ReadonlySet<string>,
  found: { columns: Set<string>; unknown: Set<string> },
): void {
  if (!expr) return;
  const kind = expr.exprKind;
  switch (kind.case) {
    case 'identExpr':
      if (kind.value.name !== 'row' && !locals.has(kind.value.name)) found.unknown.add(kind.value.name);
      return;
    case 'selectExpr': {
      const operand = kind.value.operand;
      if (operand?.exprKind.case === 'identExpr' && operand.exprKind.value.name === 'row' && !locals.has('row'))
        found.columns.add(kind.value.field);
      walk(operand, locals, found);
      return;
    }
    case 'callExpr':
      walk(kind.value.target, locals, found);
      for (const arg of kind.value.args) walk(arg, locals, found);
      return;
    case 'listExpr':
      for (const el of kind.value.elements) walk(el, locals, found);
      return;
    case 'structExpr':
      for (const entry of kind.value.entries) {
        if (entry.keyKind.case === 'mapKey') walk(entry.keyKind.value, locals, found);
        walk(entry.value, locals, found);
      }
      return;
    case 'comprehensionExpr': {
      const c = kind.value;
      walk(c.iterRange, locals, found);
      walk(c.accuInit, locals, found);
      const inner = new Set(locals);
      for (const v of [c.iterVar, c.iterVar2, c.accuVar]) if (v) inner.add(v);
      walk(c.loopCondition, inner, found);
      walk(c.loopStep, inner, found);
      walk(c.result, inner, found);
      return;
    }
    default:
      return;
  }
}

/**
 * Compiles a rule. Throws an Error saying what is wrong (the loader adds file and line):
 * a syntax error, a variable other than `row`, or a column the contract does not declare.
 */
export function compileRowCondition(source: string, columns: readonly string[]): CompiledRowRule {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(source);
  } catch (err) {
    throw new Error(
      `CEL syntax error: ${(err instanceof Error ? err.message : String(err)).replace(/^<input>:/, 'at expression line:column ')}`,
    );
  }
  const found = { columns: new Set<string>(), unknown: new Set<string>() };
  walk(parsed.expr, new Set(), found);
  const problems: string[] = [];
  if (found.unknown.size > 0)
    problems.push(
      `unknown variable${found.unknown.size > 1 ? 's' : ''} ${[...found.unknown].map((v) => `"${v}"`).join(', ')} (a rule reads one row as "row", e.g. row.bid <= row.ask)`,
    );
  const undeclared = [...found.columns].filter((c) => !columns.includes(c));
  if (undeclared.length > 0)
    problems.push(
      `reads column${undeclared.length > 1 ? 's' : ''} ${undeclared.map((c) => `"${c}"`).join(', ')}, which the contract does not declare (columns: ${columns.join(', ')})`,
    );
  if (problems.length > 0) throw new Error(problems.join('; '));
  const run = plan(env, parsed);
  const test: RowCondition = (row) => {
    const bound = new Map<string, CelInput>();
    for (const [key, value] of Object.entries(row)) bound.set(key, value);
    let value: unknown;
    try {
      value = run({ row: bound });
    } catch (err) {
      return { ok: false, error: err instanceof Error ? err.message : String(err) };
    }
    if (isCelError(value)) return { ok: false, error: value.message };
    if (typeof value !== 'boolean')
      return {
        ok: false,
        error: `yielded ${value === null ? 'null' : typeof value === 'object' ? 'a list or map' : `${typeof value} ${String(value)}`}, not true or false`,
      };
    return { ok: true, value };
  };
  return { columns: [...found.columns], test };
}
