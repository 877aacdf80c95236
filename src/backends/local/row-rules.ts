// Cross-field rules over one row, written as CEL expressions over `row` (e.g.
// `row.bid <= row.ask`). A rule passes a row only when it evaluates to true: false, a
// CEL error (a missing field, a null compared with a number) or a non-boolean all fail.
import { CelScalar, celEnv, isCelError, mapType, parse, plan, type CelInput } from '@bufbuild/cel';
import { describeError } from '../../errors.js';
import type { CreditRow } from './credit-schema.js';

export interface RowRule {
  name: string;
  /** A CEL expression over `row`, a map from column name to value; must yield a bool. */
  expression: string;
  /** Severity of the finding when any row breaks the rule (default `alert`). */
  severity?: 'warn' | 'alert';
}

export interface RuleOutcome {
  rule: RowRule;
  /** Set when the expression does not parse; then no row was evaluated. */
  compileError: string | null;
  /** 1-based row numbers that evaluated to false. */
  violations: number[];
  /** Rows where evaluation failed or did not yield a bool, with the first reason. */
  errors: number[];
  firstError: string | null;
}

const env = celEnv({ variables: { row: mapType(CelScalar.STRING, CelScalar.DYN) } });

function toCel(row: CreditRow): Map<string, CelInput> {
  const map = new Map<string, CelInput>();
  for (const [key, value] of Object.entries(row)) map.set(key, value);
  return map;
}

export function evaluateRules(rules: readonly RowRule[], rows: readonly CreditRow[]): RuleOutcome[] {
  const compiled = rules.map((rule) => {
    try {
      return { rule, run: plan(env, parse(rule.expression)), compileError: null };
    } catch (err) {
      return { rule, run: null, compileError: describeError(err) };
    }
  });
  const outcomes: RuleOutcome[] = compiled.map((c) => ({ rule: c.rule, compileError: c.compileError, violations: [], errors: [], firstError: null }));
  rows.forEach((row, i) => {
    const bindings = { row: toCel(row) };
    compiled.forEach((c, j) => {
      if (!c.run) return;
      const outcome = outcomes[j]!;
      let result: unknown;
      try {
        result = c.run(bindings);
      } catch (err) {
        result = err instanceof Error ? err : new Error(String(err));
      }
      if (result === true) return;
      if (result === false) {
        outcome.violations.push(i + 1);
        return;
      }
      outcome.errors.push(i + 1);
      outcome.firstError ??= isCelError(result) || result instanceof Error ? result.message : `yielded ${typeof result}, not a bool`;
    });
  });
  return outcomes;
}
