// The Prometheus adapter's settings: where Prometheus is, and the analysis templates, in
// the shape of Argo Rollouts' AnalysisTemplate metrics (name, query, successCondition,
// interval, count, failureLimit, inconclusiveLimit, consecutiveErrorLimit, initialDelay).
import { z } from 'zod';
import { TEMPLATE_VARIABLES } from './query-template.js';

export const DURATION_PATTERN = /^(\d+)(ms|s|m|h)$/;
const duration = z.string().regex(DURATION_PATTERN, 'write a duration such as 500ms, 30s, 5m or 1h');

const placeholdersKnown = (query: string) =>
  [...query.matchAll(/\{\{\s*([^}]*?)\s*\}\}/g)].every((m) =>
    (TEMPLATE_VARIABLES as readonly string[]).includes(m[1]!),
  );

export const analysisMetricSchema = z
  .object({
    name: z
      .string()
      .regex(/^[A-Za-z][A-Za-z0-9_-]*$/, 'a metric name is letters, digits, _ and -, starting with a letter'),
    /** PromQL with {{model}}, {{version}} (the canary), {{stableVersion}} and {{environment}} filled in. */
    query: z
      .string()
      .min(1)
      .refine(placeholdersKnown, {
        message: `the query may only use the placeholders ${TEMPLATE_VARIABLES.map((v) => `{{${v}}}`).join(', ')}`,
      }),
    /** A range query over the last `lookback` at `step`; absent: an instant query. */
    range: z.object({ lookback: duration, step: duration }).strict().optional(),
    /** CEL over `result` (a list: one number per series, or per range series a list of numbers); must return true or false. */
    successCondition: z.string().min(1),
    interval: duration.default('30s'),
    /** Wait before the first measurement, so a new canary has been scraped (Argo's initialDelay; default none). */
    initialDelay: duration.optional(),
    count: z.number().int().min(1).default(1),
    /** Failed measurements allowed before the metric fails (Argo's default 0). */
    failureLimit: z.number().int().min(0).default(0),
    /** Inconclusive measurements (no data) allowed before the metric is inconclusive. */
    inconclusiveLimit: z.number().int().min(0).default(0),
    /** Measurements in a row that could not be taken (Prometheus down) before the metric errs (Argo's default 4). */
    consecutiveErrorLimit: z.number().int().min(0).default(4),
  })
  .strict();

const authSchema = z.union([
  z.object({ bearerToken: z.string().min(1) }).strict(),
  z.object({ username: z.string().min(1), password: z.string() }).strict(),
]);

export const prometheusAnalysisSettingsSchema = z
  .object({
    url: z.string().url('prometheus.url must be a URL such as http://prometheus.monitoring:9090'),
    auth: authSchema.optional(),
    timeoutMs: z.number().int().positive().default(10_000),
    metrics: z.array(analysisMetricSchema).min(1, 'give at least one analysis metric'),
  })
  .strict()
  .superRefine((s, ctx) => {
    const seen = new Set<string>();
    for (const [i, m] of s.metrics.entries()) {
      if (seen.has(m.name))
        ctx.addIssue({
          code: z.ZodIssueCode.custom,
          path: ['metrics', i, 'name'],
          message: `metric name "${m.name}" is used twice`,
        });
      seen.add(m.name);
    }
  });

export type AnalysisMetric = z.output<typeof analysisMetricSchema>;
export type PrometheusAnalysisSettings = z.output<typeof prometheusAnalysisSettingsSchema>;
export type PrometheusAnalysisSettingsInput = z.input<typeof prometheusAnalysisSettingsSchema>;

export function durationMs(text: string): number {
  const [, n, unit] = DURATION_PATTERN.exec(text)!;
  return Number(n) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[unit as 'ms' | 's' | 'm' | 'h'];
}
