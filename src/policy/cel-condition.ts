// CEL conditions (`when:`): parsed, checked against the known variables and planned once
// when a policy file loads, so evaluating a request never re-parses anything.
import { celEnv, CelScalar, isCelError, mapType, parse, plan } from '@bufbuild/cel';
import { strings } from '@bufbuild/cel/ext';
import type { CelValue } from '@bufbuild/cel';

/** The variables every condition may read. Numbers from JS are CEL doubles (see toCelInput). */
export const CONDITION_VARIABLES = ['principal', 'tool', 'environment', 'input', 'risk'] as const;

/** Fields of the fixed-shape variables, so a typo such as `risk.trafficPercnt` fails at load. */
export const KNOWN_FIELDS: Record<string, readonly string[]> = {
  principal: ['id', 'roles'],
  tool: ['name', 'readOnly', 'destructive', 'idempotent', 'openWorld'],
  risk: [
    'environment',
    'trafficPercent',
    'trafficChangePercent',
    'promotesToFull',
    'qualityDelta',
    'failedQualityGates',
    'qualityGateFailures',
    'reversible',
    'data',
  ],
};

/** Fields of fixed-shape maps one level down (`risk.data.passed`). */
export const KNOWN_NESTED_FIELDS: Record<string, readonly string[]> = {
  'risk.data': ['dataset', 'version', 'checked', 'passed', 'failedChecks', 'softFailures', 'driftOnly'],
};

// Identifiers CEL itself defines (type names, used as in `type(x) == int`).
const BUILTIN_IDENTS = new Set([
  'int',
  'uint',
  'double',
  'bool',
  'string',
  'bytes',
  'list',
  'map',
  'null_type',
  'type',
  'dyn',
]);

const dynMap = mapType(CelScalar.STRING, CelScalar.DYN);
const env = celEnv({
  funcs: strings,
  variables: { principal: dynMap, tool: dynMap, environment: CelScalar.STRING, input: dynMap, risk: dynMap },
});

export type ConditionContext = {
  principal: Map<string, unknown>;
  tool: Map<string, unknown>;
  environment: string;
  input: Map<string, unknown>;
  risk: Map<string, unknown>;
};

export type ConditionResult = { ok: true; value: boolean } | { ok: false; error: string };
export type CompiledCondition = (ctx: ConditionContext) => ConditionResult;

type Expr = ReturnType<typeof parse>['expr'];

/**
 * Compiles a CEL source into a function over a request context. Throws an Error whose
 * message says what is wrong (the loader adds file and line).
 */
export function compileCondition(source: string): CompiledCondition {
  const run = prepare(source, 'when');
  return (ctx) => {
    const result = run(ctx);
    if (!result.ok) return result;
    // cel-es returns errors as values; anything that is not a boolean fails closed.
    if (typeof result.value !== 'boolean') {
      return {
        ok: false,
        error: `condition returned ${describeCel(result.value as CelValue)} instead of true or false`,
      };
    }
    return { ok: true, value: result.value };
  };
}

export type CompiledValue = (ctx: ConditionContext) => { ok: true; value: unknown } | { ok: false; error: string };

/**
 * Compiles a CEL expression whose value is shown, not judged (`{{ risk.data.failedChecks }}`
 * in a rule's reason), with the same checks of variables and fields as a condition.
 */
export function compileValue(source: string, where: string): CompiledValue {
  return prepare(source, where);
}

function prepare(source: string, where: string): CompiledValue {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(source);
  } catch (err) {
    const text = err instanceof Error ? err.message : String(err);
    throw new Error(`CEL syntax error in "${where}": ${text.replace(/^<input>:/, 'at expression line:column ')}`);
  }
  const problems: string[] = [];
  checkExpr(parsed.expr, new Set(CONDITION_VARIABLES), problems);
  if (problems.length > 0) throw new Error(`in "${where}": ${[...new Set(problems)].join('; ')}`);
  const run = plan(env, parsed);
  return (ctx) => {
    let value: unknown;
    try {
      // The context holds only CEL inputs built by toCelInput; the cast bridges the
      // library's binding type, which cannot express Map<string, unknown>.
      value = run(ctx as unknown as Parameters<typeof run>[0]);
    } catch (err) {
      return { ok: false, error: err instanceof Error ? err.message : String(err) };
    }
    if (isCelError(value)) return { ok: false, error: value.message };
    return { ok: true, value };
  };
}

function checkExpr(expr: Expr | undefined, scope: ReadonlySet<string>, problems: string[]): void {
  if (!expr) return;
  const kind = expr.exprKind;
  switch (kind.case) {
    case 'identExpr':
      if (!scope.has(kind.value.name) && !BUILTIN_IDENTS.has(kind.value.name)) {
        problems.push(`unknown variable "${kind.value.name}" (available: ${CONDITION_VARIABLES.join(', ')})`);
      }
      return;
    case 'selectExpr': {
      const operand = kind.value.operand;
      const inner = operand?.exprKind.case === 'selectExpr' ? operand.exprKind.value : undefined;
      if (inner?.operand?.exprKind.case === 'identExpr' && !scope.has(`@local:${inner.operand.exprKind.value.name}`)) {
        const path = `${inner.operand.exprKind.value.name}.${inner.field}`;
        const nested = KNOWN_NESTED_FIELDS[path];
        if (nested && !nested.includes(kind.value.field))
          problems.push(`"${path}" has no field "${kind.value.field}" (fields: ${nested.join(', ')})`);
      }
      if (operand?.exprKind.case === 'identExpr' && !scope.has(`@local:${operand.exprKind.value.name}`)) {
        const known = KNOWN_FIELDS[operand.exprKind.value.name];
        if (known && !known.includes(kind.value.field)) {
          problems.push(
            `"${operand.exprKind.value.name}" has no field "${kind.value.field}" (fields: ${known.join(', ')})`,
          );
        }
      }
      checkExpr(operand, scope, problems);
      return;
    }
    case 'callExpr': {
      const name = kind.value.function;
      // Operators (`_&&_`, `@in`, `!_`) are built into the planner, not the function table.
      if (/^[A-Za-z]/.test(name) && !env.funcs.find(name)) problems.push(`unknown function "${name}"`);
      checkExpr(kind.value.target, scope, problems);
      for (const arg of kind.value.args) checkExpr(arg, scope, problems);
      return;
    }
    case 'listExpr':
      for (const el of kind.value.elements) checkExpr(el, scope, problems);
      return;
    case 'structExpr':
      for (const entry of kind.value.entries) {
        if (entry.keyKind.case === 'mapKey') checkExpr(entry.keyKind.value, scope, problems);
        checkExpr(entry.value, scope, problems);
      }
      return;
    case 'comprehensionExpr': {
      const c = kind.value;
      checkExpr(c.iterRange, scope, problems);
      checkExpr(c.accuInit, scope, problems);
      // Loop variables shadow the request variables, so `x.y` on them is not field-checked.
      const inner = new Set(scope);
      for (const v of [c.iterVar, c.iterVar2, c.accuVar]) {
        if (v) inner.add(v).add(`@local:${v}`);
      }
      checkExpr(c.loopCondition, inner, problems);
      checkExpr(c.loopStep, inner, problems);
      checkExpr(c.result, inner, problems);
      return;
    }
    default:
      return;
  }
}

/**
 * Converts a JS value into what cel-es expects: plain objects become maps, arrays lists.
 * Numbers stay JS numbers, which CEL treats as doubles; cel-es compares doubles with int
 * literals numerically (`risk.trafficPercent > 5` works), but arithmetic mixing them
 * (`risk.trafficPercent + 1`) is a CEL type error, so policies write `+ 1.0`.
 */
export function toCelInput(value: unknown, path = 'value'): unknown {
  if (value === null || value === undefined) return null;
  switch (typeof value) {
    case 'string':
    case 'boolean':
    case 'number':
    case 'bigint':
      return value;
    case 'object':
      break;
    default:
      throw new Error(`${path} is a ${typeof value}, which a policy condition cannot read`);
  }
  if (Array.isArray(value)) return value.map((v, i) => toCelInput(v, `${path}[${i}]`));
  if (value instanceof Date) return value.toISOString();
  if (value instanceof Uint8Array) return value;
  const out = new Map<string, unknown>();
  for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
    // An absent optional argument reads as missing (use has()), not as null.
    if (v !== undefined) out.set(key, toCelInput(v, `${path}.${key}`));
  }
  return out;
}

export function toCelMap(value: object, path: string): Map<string, unknown> {
  return toCelInput(value, path) as Map<string, unknown>;
}

function describeCel(value: CelValue): string {
  if (value === null) return 'null';
  if (typeof value === 'object') return 'a list, map or message';
  return `${typeof value === 'bigint' ? 'int' : typeof value === 'number' ? 'double' : typeof value} ${String(value)}`;
}
