// Prometheus as the canary analysis backend: PromQL analysis templates judged with CEL.
export {
  createPrometheusAnalysis,
  parsePrometheusAnalysisSettings,
  type Measurement,
  type MetricCheck,
  type MetricPhase,
  type PrometheusAnalyzer,
} from './analysis.js';
export {
  createPrometheusClient,
  type PrometheusClient,
  type PrometheusConnection,
  type PromQueryResult,
} from './client.js';
export { escapePromqlString, fillQuery, TEMPLATE_VARIABLES } from './query-template.js';
export {
  analysisMetricSchema,
  prometheusAnalysisSettingsSchema,
  type AnalysisMetric,
  type PrometheusAnalysisSettings,
  type PrometheusAnalysisSettingsInput,
} from './settings.js';
