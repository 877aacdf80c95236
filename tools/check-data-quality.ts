import { z } from 'zod';
import { defineTool, NO_RISK } from './define-tool.js';

const input = z
  .object({
    dataset: z.string().min(1).describe('Dataset to check, e.g. "credit-recent"'),
    reference: z.string().min(1).optional().describe('Reference dataset for drift (default: the training reference)'),
  })
  .strict();

const output = z.object({
  dataset: z.string(),
  dataVersion: z.string(),
  reference: z.string().nullable(),
  rows: z.number(),
  checkedAt: z.string(),
  passed: z.boolean(),
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
});

export const checkDataQuality = defineTool({
  name: 'check_data_quality',
  description:
    'Run the data checks on a dataset: schema, missing values, value ranges, duplicates, cross-field rules, and drift against the training reference (PSI and Kolmogorov-Smirnov per feature, KL divergence of model scores). Returns structured findings with severity; passed is false when any finding is an alert. Read-only.',
  input,
  output,
  annotations: { readOnly: true, destructive: false, idempotent: true, openWorld: false },
  assessRisk: async () => NO_RISK,
  execute: (args, { backends }) =>
    backends.dataQuality.check(args.dataset, args.reference ? { reference: args.reference } : undefined),
  summarize(out) {
    const alerts = out.findings.filter((f) => f.severity === 'alert');
    const warns = out.findings.filter((f) => f.severity === 'warn');
    const top = alerts.slice(0, 3).map((f) => `${f.check}${f.column ? `(${f.column})` : ''}`);
    return `${out.dataset}: ${out.rows} rows, ${alerts.length} alert(s), ${warns.length} warning(s)${top.length ? `: ${top.join(', ')}` : ''}`;
  },
});
