// The lab's drift and quality figures as Prometheus gauges, computed at each scrape from
// what the model servers served in the last window: each version's share of traffic, its
// accuracy on the delayed labels (and the offline figure it was promoted on), the PSI of
// its scores and of each input against the model's reference data, and for the trading
// signal a Sharpe-style figure of its labelled calls; for each running shadow, how its
// scores and accuracy compare with the stable version's on the same mirrored rows. The
// example rules in examples/prometheus/ alert on these.
import { statfs } from 'node:fs/promises';
import { collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import type { Environment } from '../../../tools/ports.js';
import type { CreditRow } from './credit-schema.js';
import { psiCategorical, psiNumeric } from './drift-statistics.js';
import { score, type ModelArtifact } from './model-artifact.js';
import { accuracy, type ServingStats } from './serving-stats.js';
import type { SplitSource } from './traffic-router.js';

/** One model of the lab as the gauges see it. */
export interface WatchedModel {
  model: string;
  environment: Environment;
  /** The dataset recent traffic stands for: the runbooks check and retrain on it. */
  dataset: string;
  /** Rows of the reference data (a sample), and which columns are measured for drift. */
  reference: CreditRow[];
  features: { name: string; categorical: boolean }[];
  /** The offline figure comparable with live accuracy: `accuracy` (credit) or `hit_rate` (signal). */
  offlineAccuracy: string;
  /** Reports the Sharpe-style figure. */
  signal: boolean;
}

const MIN_LABELLED = 50;
const MIN_ROWS = 100;

/** Per-trade Sharpe of the calls whose outcome is known: +1 for a right call, -1 for a wrong one. */
export function labelledSharpe(labelled: readonly { score: number; label: 0 | 1 }[]): number {
  if (labelled.length < 2) return 0;
  const pnl = labelled.map((p) => ((p.score > 0.5 ? 1 : 0) === p.label ? 1 : -1));
  const mean = pnl.reduce((s, v) => s + v, 0) / pnl.length;
  const sd = Math.sqrt(pnl.reduce((s, v) => s + (v - mean) ** 2, 0) / (pnl.length - 1));
  return sd > 0 ? mean / sd : 0;
}

export function createLabMetrics(options: {
  models: WatchedModel[];
  stats: ServingStats;
  splits: SplitSource;
  artifacts: {
    loadArtifact(model: string, version: string): Promise<ModelArtifact>;
    getVersion(model: string, version: string): Promise<{ metrics: Record<string, number> } | undefined>;
  };
  windowMs: number;
  /** The lab's directory: its filesystem's free and total bytes are exported. */
  diskPath: string;
  now?: () => number;
}): Registry {
  const registry = new Registry();
  // CPU, memory, file descriptors of the lab process: what predictive rules extrapolate.
  collectDefaultMetrics({ register: registry, prefix: 'mlops_lab_' });
  const now = options.now ?? Date.now;
  const referenceScores = new Map<string, Promise<number[]>>();
  const scoresOf = (m: WatchedModel, version: string) => {
    const key = `${m.model}\u0000${version}`;
    let p = referenceScores.get(key);
    if (!p) {
      p = options.artifacts.loadArtifact(m.model, version).then((a) => m.reference.map((row) => score(a, row)));
      p.catch(() => referenceScores.delete(key));
      referenceScores.set(key, p);
    }
    return p;
  };
  const versionLabels = ['model', 'environment', 'version', 'dataset'] as const;
  const shadowLabels = ['model', 'environment', 'version', 'stable_version'] as const;
  const gauges = {
    share: new Gauge({
      name: 'mlops_lab_traffic_share_percent',
      help: "Share of the model's traffic each version serves now, by role (stable or canary)",
      labelNames: ['model', 'environment', 'version', 'role'],
      registers: [registry],
    }),
    accuracy: new Gauge({
      name: 'mlops_lab_accuracy',
      help: 'Accuracy of the version on the delayed labels of the last window (at least 50 labelled)',
      labelNames: versionLabels,
      registers: [registry],
    }),
    offline: new Gauge({
      name: 'mlops_lab_offline_accuracy',
      help: 'The accuracy (credit) or hit rate (signal) the version scored on its held-out test split when trained',
      labelNames: versionLabels,
      registers: [registry],
    }),
    labelled: new Gauge({
      name: 'mlops_lab_labelled_predictions',
      help: 'Predictions of the last window whose true outcome came back',
      labelNames: versionLabels,
      registers: [registry],
    }),
    scorePsi: new Gauge({
      name: 'mlops_lab_score_psi',
      help: "PSI of the version's scores in the last window against its scores on the reference data",
      labelNames: versionLabels,
      registers: [registry],
    }),
    featurePsi: new Gauge({
      name: 'mlops_lab_feature_psi',
      help: 'PSI of an input in the last window against the reference data',
      labelNames: ['model', 'environment', 'dataset', 'feature'],
      registers: [registry],
    }),
    shadowMirror: new Gauge({
      name: 'mlops_lab_shadow_mirror_percent',
      help: "Share of the stable version's requests mirrored to each running shadow (it answers nobody)",
      labelNames: ['model', 'environment', 'version'],
      registers: [registry],
    }),
    shadowRequests: new Gauge({
      name: 'mlops_lab_shadow_mirrored_requests',
      help: 'Requests mirrored to the shadow in the last window (scored or failed)',
      labelNames: shadowLabels,
      registers: [registry],
    }),
    shadowScorePsi: new Gauge({
      name: 'mlops_lab_shadow_score_psi',
      help: "PSI of the shadow's scores in the last window against the stable version's on the same rows (at least 100)",
      labelNames: shadowLabels,
      registers: [registry],
    }),
    shadowAccuracyDelta: new Gauge({
      name: 'mlops_lab_shadow_accuracy_delta',
      help: "Shadow accuracy minus the stable version's on the same labelled rows of the last window (at least 50)",
      labelNames: shadowLabels,
      registers: [registry],
    }),
    sharpe: new Gauge({
      name: 'mlops_lab_signal_sharpe_per_trade',
      help: "Per-trade Sharpe ratio of the signal's labelled calls in the last window (+1 right, -1 wrong)",
      labelNames: versionLabels,
      registers: [registry],
    }),
  };

  const disk = {
    free: new Gauge({
      name: 'mlops_lab_disk_free_bytes',
      help: "Bytes free to unprivileged writers on the filesystem of the lab's home",
      labelNames: ['path'],
      registers: [registry],
    }),
    size: new Gauge({
      name: 'mlops_lab_disk_size_bytes',
      help: "Size in bytes of the filesystem of the lab's home",
      labelNames: ['path'],
      registers: [registry],
    }),
  };

  async function collect(): Promise<void> {
    for (const g of Object.values(gauges)) g.reset();
    const fs = await statfs(options.diskPath);
    disk.free.set({ path: options.diskPath }, fs.bavail * fs.bsize);
    disk.size.set({ path: options.diskPath }, fs.blocks * fs.bsize);
    const since = now() - options.windowMs;
    for (const m of options.models) {
      const split = options.splits.currentSplit(m.model, m.environment);
      if (!split) continue;
      const base = { model: m.model, environment: m.environment };
      const canary = split.canaryVersion !== null && split.canaryPercent > 0 ? split.canaryVersion : null;
      gauges.share.set(
        { ...base, version: split.stableVersion, role: 'stable' },
        100 - (canary ? split.canaryPercent : 0),
      );
      if (canary) gauges.share.set({ ...base, version: canary, role: 'canary' }, split.canaryPercent);
      for (const shadow of options.splits.currentShadows?.(m.model, m.environment) ?? []) {
        gauges.shadowMirror.set({ ...base, version: shadow.version }, shadow.mirrorPercent);
        const labels = { ...base, version: shadow.version, stable_version: split.stableVersion };
        const w = options.stats.shadowWindow(m.model, m.environment, shadow.version, split.stableVersion, since);
        gauges.shadowRequests.set(labels, w.requests);
        if (w.scores.length >= MIN_ROWS) gauges.shadowScorePsi.set(labels, psiNumeric(w.stableScores, w.scores));
        if (w.labelled.length >= MIN_LABELLED)
          gauges.shadowAccuracyDelta.set(
            labels,
            accuracy(w.labelled) -
              accuracy(w.labelled.map(({ stableScore, label }) => ({ score: stableScore, label }))),
          );
      }
      const live: CreditRow[] = [];
      for (const version of canary ? [split.stableVersion, canary] : [split.stableVersion]) {
        const labels = { ...base, version, dataset: m.dataset };
        const window = options.stats.window(m.model, m.environment, version, since);
        live.push(...window.rows);
        const offline = (await options.artifacts.getVersion(m.model, version))?.metrics[m.offlineAccuracy];
        if (offline !== undefined) gauges.offline.set(labels, offline);
        gauges.labelled.set(labels, window.labelled.length);
        if (window.labelled.length >= MIN_LABELLED) {
          gauges.accuracy.set(labels, accuracy(window.labelled));
          if (m.signal) gauges.sharpe.set(labels, labelledSharpe(window.labelled));
        }
        if (window.scores.length >= MIN_ROWS)
          gauges.scorePsi.set(labels, psiNumeric(await scoresOf(m, version), window.scores));
      }
      if (live.length < MIN_ROWS) continue;
      for (const f of m.features) {
        const ref = m.reference.map((r) => r[f.name]);
        const now = live.map((r) => r[f.name]);
        const psi = f.categorical
          ? psiCategorical(
              ref.filter((v): v is string => typeof v === 'string'),
              now.filter((v): v is string => typeof v === 'string'),
            )
          : psiNumeric(
              ref.filter((v): v is number => typeof v === 'number'),
              now.filter((v): v is number => typeof v === 'number'),
            );
        gauges.featurePsi.set({ ...base, dataset: m.dataset, feature: f.name }, psi);
      }
    }
  }

  // Computed once per scrape, before the registry renders the gauges.
  const metrics = registry.metrics.bind(registry);
  registry.metrics = async () => {
    await collect();
    return metrics();
  };
  return registry;
}
