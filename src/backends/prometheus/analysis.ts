// Canary analysis over Prometheus: each analysis metric is measured `count` times,
// `interval` apart, its successCondition judged on every result, as Argo Rollouts runs an
// AnalysisTemplate. A query with no series (or only NaN: nothing was served) is
// inconclusive, never a pass. Metrics run side by side; the analysis fails when any metric
// fails or errs, and is inconclusive when none failed and one lacked data.
import { UpstreamError, UserError } from '../../errors.js';
import type { CanaryCheck } from '../../../tools/ports.js';
import type { AnalysisOutcome, AnalysisTarget, CanaryAnalyzer } from '../canary-analyzer.js';
import { createPrometheusClient, type PrometheusClient, type PromQueryResult } from './client.js';
import { fillQuery } from './query-template.js';
import {
  durationMs,
  prometheusAnalysisSettingsSchema,
  type AnalysisMetric,
  type PrometheusAnalysisSettings,
} from './settings.js';
import { compileSuccessCondition, type ConditionOutcome } from './success-condition.js';

export type MeasurementPhase = 'Successful' | 'Failed' | 'Inconclusive' | 'Error';
export type MetricPhase = MeasurementPhase;

export interface Measurement {
  at: string;
  phase: MeasurementPhase;
  /** What the condition saw: one number per series, or a list per range series. */
  result: number[] | number[][] | null;
  message: string | null;
}

/** A CanaryCheck per metric: `canary` is the first series' latest value (0 without data); the condition holds the comparison. */
export interface MetricCheck extends CanaryCheck {
  phase: MetricPhase;
  query: string;
  successCondition: string;
  measurements: Measurement[];
  message: string | null;
}

export interface PrometheusAnalyzer extends CanaryAnalyzer {
  readonly settings: PrometheusAnalysisSettings;
  analyse(
    target: AnalysisTarget,
    options?: { signal?: AbortSignal },
  ): Promise<Omit<AnalysisOutcome, 'checks'> & { checks: MetricCheck[] }>;
}

export function parsePrometheusAnalysisSettings(input: unknown): PrometheusAnalysisSettings {
  const parsed = prometheusAnalysisSettingsSchema.safeParse(input);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${['prometheus', ...i.path].join('.')}: ${i.message}`);
    throw new UserError(`prometheus analysis settings: ${problems.join('; ')}`, { code: 'config_invalid' });
  }
  return parsed.data;
}

export function createPrometheusAnalysis(
  input: unknown,
  options: { now?: () => Date; client?: PrometheusClient } = {},
): PrometheusAnalyzer {
  const settings = parsePrometheusAnalysisSettings(input);
  const client = options.client ?? createPrometheusClient(settings);
  const now = options.now ?? (() => new Date());
  // Compiled at start: a broken condition stops the start, not the first canary.
  const metrics = settings.metrics.map((m) => ({
    metric: m,
    condition: compileSuccessCondition(m.successCondition, m.name),
  }));

  async function measure(
    metric: AnalysisMetric,
    condition: (r: unknown) => ConditionOutcome,
    query: string,
  ): Promise<Measurement> {
    const at = now();
    let answer: PromQueryResult;
    try {
      answer = metric.range
        ? await client.queryRange(query, {
            start: new Date(at.getTime() - durationMs(metric.range.lookback)),
            end: at,
            stepSeconds: durationMs(metric.range.step) / 1000,
          })
        : await client.query(query, at);
    } catch (err) {
      // Prometheus down or slow: retried at the next interval. A bad query or refused credentials is not.
      if (err instanceof UpstreamError && err.retryable)
        return { at: at.toISOString(), phase: 'Error', result: null, message: err.message };
      throw err;
    }
    const result = resultOf(answer);
    if (result.length === 0)
      return { at: at.toISOString(), phase: 'Inconclusive', result, message: 'no data: the query returned no series' };
    if (result.flat().every((v) => Number.isNaN(v)))
      return {
        at: at.toISOString(),
        phase: 'Inconclusive',
        result,
        message: 'no data: every value is NaN (nothing was served in the window)',
      };
    const verdict = condition(result);
    if (!verdict.ok) return { at: at.toISOString(), phase: 'Failed', result, message: verdict.error };
    return {
      at: at.toISOString(),
      phase: verdict.value ? 'Successful' : 'Failed',
      result,
      message: verdict.value ? null : `${metric.successCondition} is false`,
    };
  }

  async function runMetric(
    metric: AnalysisMetric,
    condition: (r: unknown) => ConditionOutcome,
    target: AnalysisTarget,
    signal?: AbortSignal,
  ): Promise<MetricCheck> {
    const query = fillQuery(metric.query, target);
    const measurements: Measurement[] = [];
    let phase: MetricPhase = 'Successful';
    let consecutiveErrors = 0;
    if (metric.initialDelay) await sleep(durationMs(metric.initialDelay), signal);
    for (let i = 0; i < metric.count; i++) {
      if (i > 0) await sleep(durationMs(metric.interval), signal);
      if (signal?.aborted) break;
      const m = await measure(metric, condition, query);
      measurements.push(m);
      consecutiveErrors = m.phase === 'Error' ? consecutiveErrors + 1 : 0;
      const count = (p: MeasurementPhase) => measurements.filter((x) => x.phase === p).length;
      if (count('Failed') > metric.failureLimit) {
        phase = 'Failed';
        break;
      }
      if (consecutiveErrors > metric.consecutiveErrorLimit) {
        phase = 'Error';
        break;
      }
      if (count('Inconclusive') > metric.inconclusiveLimit) {
        phase = 'Inconclusive';
        break;
      }
    }
    // Ended without one good measurement (only errors, or aborted): nothing was shown to pass.
    if (phase === 'Successful' && !measurements.some((m) => m.phase === 'Successful')) {
      phase = measurements.some((m) => m.phase === 'Error') ? 'Error' : 'Inconclusive';
    }
    const last = [...measurements].reverse().find((m) => m.result && m.result.length > 0);
    const first = last
      ? Array.isArray(last.result![0])
        ? (last.result![0] as number[]).at(-1)
        : (last.result![0] as number)
      : undefined;
    const decisive = [...measurements].reverse().find((m) => m.phase === phase) ?? measurements.at(-1);
    return {
      check: metric.name,
      canary: first !== undefined && Number.isFinite(first) ? first : 0,
      stable: 0,
      threshold: 0,
      passed: phase === 'Successful',
      phase,
      query,
      successCondition: metric.successCondition,
      measurements,
      message: phase === 'Successful' ? null : (decisive?.message ?? 'no measurement was taken'),
      samples: { canary: measurements.length, stable: 0 },
    };
  }

  return {
    settings,
    async analyse(target, { signal } = {}) {
      const checks = await Promise.all(
        metrics.map(({ metric, condition }) => runMetric(metric, condition, target, signal)),
      );
      const failed = checks.some((c) => c.phase === 'Failed' || c.phase === 'Error');
      const inconclusive = !failed && checks.some((c) => c.phase === 'Inconclusive');
      const verdict = failed ? 'failed' : inconclusive ? 'inconclusive' : 'passed';
      return {
        at: now().toISOString(),
        trafficPercent: target.trafficPercent,
        passed: verdict === 'passed',
        verdict,
        checks,
      };
    },
  };
}

/** What a successCondition reads as `result`: numbers per series (instant) or lists of numbers per series (range). */
function resultOf(answer: PromQueryResult): number[] | number[][] {
  if (answer.resultType === 'scalar') return [answer.scalar[1]];
  if (answer.resultType === 'vector') return answer.series.map((s) => s.value?.[1] ?? Number.NaN);
  return answer.series.map((s) => (s.values ?? []).map((v) => v[1]));
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
  });
}
