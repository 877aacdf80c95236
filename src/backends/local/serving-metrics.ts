// The model server's Prometheus metrics, per model, environment and version.
import { Counter, Histogram, type Registry } from 'prom-client';

type Labels = { model: string; environment: string; version: string };
const LABELS = ['model', 'environment', 'version'] as const;

/** Reuses a metric already in the registry, so two servers can share one registry. */
function metric<T>(registry: Registry, name: string, make: () => T): T {
  return (registry.getSingleMetric(name) as T | undefined) ?? make();
}

export function createServingMetrics(registry: Registry) {
  const requests = metric(
    registry,
    'mlops_lab_predict_requests_total',
    () =>
      new Counter({
        name: 'mlops_lab_predict_requests_total',
        help: 'Prediction requests served, by model version',
        labelNames: LABELS,
        registers: [registry],
      }),
  );
  const errors = metric(
    registry,
    'mlops_lab_predict_errors_total',
    () =>
      new Counter({
        name: 'mlops_lab_predict_errors_total',
        help: 'Prediction requests that failed, by model version',
        labelNames: LABELS,
        registers: [registry],
      }),
  );
  const latency = metric(
    registry,
    'mlops_lab_predict_latency_seconds',
    () =>
      new Histogram({
        name: 'mlops_lab_predict_latency_seconds',
        help: 'Time to score one prediction request',
        labelNames: LABELS,
        buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
        registers: [registry],
      }),
  );
  const scores = metric(
    registry,
    'mlops_lab_prediction_score',
    () =>
      new Histogram({
        name: 'mlops_lab_prediction_score',
        help: 'Distribution of predicted probabilities of default',
        labelNames: LABELS,
        buckets: [0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1],
        registers: [registry],
      }),
  );
  const rejected = metric(
    registry,
    'mlops_lab_http_rejected_total',
    () =>
      new Counter({
        name: 'mlops_lab_http_rejected_total',
        help: 'Requests refused before scoring (4xx), by status',
        labelNames: ['status'],
        registers: [registry],
      }),
  );
  const feedback = metric(
    registry,
    'mlops_lab_feedback_labels_total',
    () =>
      new Counter({
        name: 'mlops_lab_feedback_labels_total',
        help: 'Delayed true labels attached to predictions',
        registers: [registry],
      }),
  );

  // Error ratios must read 0, not nothing, before a version's first error: its counter starts at 0.
  const seen = new Set<string>();
  return {
    rejected,
    feedback,
    observeRequest(labels: Labels, latencyMs: number, ok: boolean, predictionScores: number[]): void {
      const key = `${labels.model}\u0000${labels.environment}\u0000${labels.version}`;
      if (!seen.has(key)) {
        seen.add(key);
        errors.inc(labels, 0);
      }
      requests.inc(labels);
      // Incremented by 0 on success so every served version has an error series: without
      // it, a PromQL error rate of a canary that never failed would be "no data", not 0.
      errors.inc(labels, ok ? 0 : 1);
      latency.observe(labels, latencyMs / 1000);
      for (const s of predictionScores) scores.observe(labels, s);
    },
  };
}
