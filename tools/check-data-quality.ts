import { z } from 'zod';
import { defineTool, NO_RISK } from './define-tool.js';

const input = z
  .object({
    dataset: z.string().min(1).describe('Dataset to check, e.g. "credit-recent"'),
    reference: z
      .string()
      .min(1)
      .optional()
      .describe("Reference dataset for drift (default: the one the dataset's data contract names)"),
  })
  .strict();

const cell = z.union([z.string(), z.number()]).nullable();

const output = z.object({
  dataset: z.string(),
  dataVersion: z.string(),
  contract: z.object({ name: z.string(), file: z.string(), hash: z.string() }).nullable(),
  reference: z.string().nullable(),
  rows: z.number(),
  checkedAt: z.string(),
  violations: z.array(
    z.object({
      rule: z.string(),
      severity: z.enum(['hard', 'soft']),
      column: z.string().nullable(),
      rowsAffected: z.number(),
      examples: z.array(z.object({ row: z.number(), values: z.record(cell) })),
      message: z.string(),
      source: z.string(),
    }),
  ),
  findings: z.array(
    z.object({
      check: z.string(),
      column: z.string().nullable(),
      value: z.union([z.number(), z.string()]).nullable(),
      threshold: z.number().nullable(),
      severity: z.enum(['info', 'warn', 'alert']),
      message: z.string(),
    }),
  ),
  verdict: z.object({
    passed: z.boolean(),
    failedChecks: z.array(z.string()),
    softFailures: z.array(z.string()),
    driftOnly: z.boolean(),
    drifted: z.boolean(),
  }),
  passed: z.boolean(),
  reportHash: z.string(),
  reused: z.boolean(),
});

type Output = z.infer<typeof output>;

function driftSummary(out: Output): string {
  const moved = out.findings.filter((f) => f.severity !== 'info' && f.check !== 'drift');
  const alerts = moved.filter((f) => f.severity === 'alert').map((f) => `${f.check}${f.column ? `(${f.column})` : ''}`);
  if (!out.reference) return 'drift not measured';
  if (moved.length === 0) return `no drift against ${out.reference}`;
  return `drift against ${out.reference}: ${alerts.length} alert(s), ${moved.length - alerts.length} warning(s)${alerts.length ? ` (${alerts.slice(0, 3).join(', ')}${alerts.length > 3 ? ', ...' : ''})` : ''}`;
}

export const checkDataQuality = defineTool({
  name: 'check_data_quality',
  description:
    "Check a dataset against its data contract (columns and types, missing values, ranges and allowed values, uniqueness, row count, freshness, time gaps, cross-field rules) and measure drift against a reference (PSI and Kolmogorov-Smirnov per column, KL divergence of the production model's scores). Returns each broken contract rule (hard or soft, rows affected, example rows) and the drift findings, with a verdict: passed is false when a hard rule is broken (such data must not be trained on); driftOnly is true when nothing but drift was found (valid data whose distribution moved: a reason to retrain). The verdict is stored for this exact content: trigger_retrain's policy reads it. Read-only.",
  input,
  output,
  annotations: { readOnly: true, destructive: false, idempotent: true, openWorld: false },
  assessRisk: async () => NO_RISK,
  execute: (args, { backends }) =>
    backends.dataQuality.check(args.dataset, args.reference ? { reference: args.reference } : undefined),
  summarize(out) {
    const head = `${out.dataset}: ${out.rows} rows`;
    const seen = out.reused ? ` (checked before, at ${out.checkedAt})` : '';
    if (!out.verdict.passed) {
      const hard = out.violations.filter((v) => v.severity === 'hard');
      const first = hard[0];
      const example = first?.examples[0]
        ? `, e.g. row ${first.examples[0].row}: ${Object.entries(first.examples[0].values)
            .map(([k, v]) => `${k}=${v ?? 'empty'}`)
            .join(' ')}`
        : '';
      return `${head}, FAILED its data contract${out.contract ? ` "${out.contract.name}"` : ''}: hard rule(s) ${out.verdict.failedChecks.join(', ')} broken (${first?.rule}: ${first?.rowsAffected} row(s)${example}); ${driftSummary(out)}${seen}`;
    }
    const soft =
      out.verdict.softFailures.length > 0 ? `, soft rule(s) ${out.verdict.softFailures.join(', ')} broken` : '';
    return `${head}, passed its data contract "${out.contract?.name}"${soft}; ${driftSummary(out)}${out.verdict.driftOnly ? ' (drift only)' : ''}${seen}`;
  },
});
