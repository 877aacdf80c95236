// Fills an analysis query's placeholders. Values land inside double-quoted label matchers
// (`version="{{version}}"`), so they are escaped as PromQL strings: a model name can never
// close the quote and change the query.
import type { AnalysisTarget } from '../canary-analyzer.js';

export const TEMPLATE_VARIABLES = ['model', 'version', 'stableVersion', 'environment'] as const;

/** Escapes a value for a double-quoted PromQL string (backslash, quote, newline). */
export function escapePromqlString(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n').replace(/\r/g, '\\r');
}

export function fillQuery(query: string, target: AnalysisTarget): string {
  const values: Record<(typeof TEMPLATE_VARIABLES)[number], string> = {
    model: target.model,
    version: target.canaryVersion,
    stableVersion: target.stableVersion,
    environment: target.environment,
  };
  return query.replace(/\{\{\s*([^}]*?)\s*\}\}/g, (_, name: string) =>
    escapePromqlString(values[name as keyof typeof values]),
  );
}
