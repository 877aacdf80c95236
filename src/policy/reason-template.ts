// A rule's reason may show figures of the request: `{{ risk.data.failedChecks }}` is CEL,
// checked when the file loads and rendered into the decision, so a refusal says what a
// person has to act on (which contract rules broke), not only that a rule matched.
import { compileValue, type CompiledValue, type ConditionContext } from './cel-condition.js';

export type ReasonPart = string | { source: string; value: CompiledValue };

const PLACEHOLDER = /\{\{([^}]*)\}\}/g;

/** Splits a reason into text and compiled expressions; throws naming the expression when one is bad. */
export function compileReason(reason: string): ReasonPart[] | null {
  if (!reason.includes('{{')) return null;
  const parts: ReasonPart[] = [];
  let last = 0;
  for (const match of reason.matchAll(PLACEHOLDER)) {
    const source = match[1]!.trim();
    if (source === '')
      throw new Error('reason has an empty {{ }}; write a CEL expression inside, e.g. {{ risk.data.failedChecks }}');
    parts.push(reason.slice(last, match.index), { source, value: compileValue(source, `reason {{ ${source} }}`) });
    last = match.index! + match[0].length;
  }
  parts.push(reason.slice(last));
  return parts;
}

function show(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean') return String(value);
  if (typeof value === 'object' && Symbol.iterator in value) {
    const items = [...(value as Iterable<unknown>)].map(show);
    return items.length > 0 ? items.join(', ') : 'none';
  }
  return '(a map)';
}

/** The reason with each expression's value; one that cannot be evaluated shows why, and the decision stands. */
export function renderReason(parts: readonly ReasonPart[], ctx: ConditionContext): string {
  return parts
    .map((part) => {
      if (typeof part === 'string') return part;
      const result = part.value(ctx);
      return result.ok ? show(result.value) : `{{ ${part.source}: ${result.error} }}`;
    })
    .join('');
}
