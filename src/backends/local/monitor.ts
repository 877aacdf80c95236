// Watches the served traffic of each model/environment (its stable version) and raises
// Alertmanager-style alerts: input drift per feature (PSI against the training data),
// prediction drift (KL of scores), accuracy from feedback labels, and p99 latency; and,
// while a canary holds traffic, its own error rate and p99 latency (CanaryDegraded).
// A condition that clears sends a resolved notification; one that cannot be judged for
// lack of data keeps its previous state.
import type { Clock } from '../../clock.js';
import { describeError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import type { Environment } from '../../../tools/ports.js';
import {
  commonOf,
  fingerprint,
  groupKeyOf,
  ZERO_TIME,
  type AlertmanagerAlert,
  type AlertmanagerPayload,
  type AlertSink,
} from './alertmanager-payload.js';
import { CREDIT_COLUMNS, LABEL_COLUMN, type ColumnSpec, type CreditRow } from './credit-schema.js';
import { measureFeatureDrift } from './drift-findings.js';
import { klNumeric } from './drift-statistics.js';
import { score, type ModelArtifact } from './model-artifact.js';
import type { ArtifactSource } from './model-server.js';
import { accuracy, percentile, type ServingStats } from './serving-stats.js';
import type { SplitSource } from './traffic-router.js';

export type AlertName = 'ModelDriftDetected' | 'ModelAccuracyDrop' | 'ModelLatencyHigh' | 'CanaryDegraded';

export interface MonitorRules {
  /** Served traffic older than this is not looked at (default 15 min). */
  windowMs: number;
  /** Rows needed before drift is judged (default 200). */
  minRows: number;
  psiAlert: number;
  predictionKlAlert: number;
  /** Labels needed before accuracy is judged (default 100). */
  minLabels: number;
  /** Alert when served accuracy is this far below the accuracy on the training data. */
  maxAccuracyDrop: number;
  maxP99LatencyMs: number;
  /** Requests needed before latency is judged (default 50), and a canary's error rate. */
  minRequests: number;
  /** A canary failing more than this share of its requests is degraded (default 0.02). */
  maxCanaryErrorRate: number;
}

export const DEFAULT_MONITOR_RULES: MonitorRules = {
  windowMs: 15 * 60_000,
  minRows: 200,
  psiAlert: 0.25,
  predictionKlAlert: 0.1,
  minLabels: 100,
  maxAccuracyDrop: 0.05,
  maxP99LatencyMs: 250,
  minRequests: 50,
  maxCanaryErrorRate: 0.02,
};

export interface MonitorOptions {
  stats: ServingStats;
  splits: SplitSource;
  artifacts: ArtifactSource;
  /** The rows (with their true labels) a version was trained on. */
  referenceRows: (model: string, version: string) => Promise<CreditRow[]>;
  sink: AlertSink;
  clock: Clock;
  logger: Logger;
  columns?: ColumnSpec[];
  rules?: Partial<MonitorRules>;
  /** Model/environment pairs to watch (default: every pair that served anything). */
  targets?: () => { model: string; environment: Environment }[];
  /** A dataset label for the alerts, naming recent data the agent can check and retrain on. */
  datasetFor?: (model: string, environment: Environment) => string | undefined;
  receiver?: string;
  externalURL?: string;
  runbooks?: Partial<Record<AlertName, string>>;
}

export interface Monitor {
  /** Evaluates every target once and hands any change to the sink; returns what was sent. */
  evaluate(): Promise<AlertmanagerPayload[]>;
  start(intervalMs: number): void;
  stop(): Promise<void>;
}

interface Condition {
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

interface Reference {
  rows: CreditRow[];
  scores: number[];
  accuracy: number;
}

export function createMonitor(options: MonitorOptions): Monitor {
  const rules = { ...DEFAULT_MONITOR_RULES, ...options.rules };
  const columns = options.columns ?? CREDIT_COLUMNS;
  const receiver = options.receiver ?? 'mlops-agent';
  const externalURL = options.externalURL ?? 'http://127.0.0.1/mlops-lab';
  const references = new Map<string, Promise<Reference>>();
  /** Firing alerts per group key, by fingerprint, with when they started. */
  const active = new Map<string, Map<string, AlertmanagerAlert>>();

  const referenceFor = (model: string, version: string, artifact: ModelArtifact): Promise<Reference> => {
    const key = `${model}\u0000${version}`;
    let ref = references.get(key);
    if (!ref) {
      ref = options.referenceRows(model, version).then((rows) => {
        const labelled = rows
          .map((r) => ({
            score: score(artifact, r),
            label: r[LABEL_COLUMN] === '1' || r[LABEL_COLUMN] === 1 ? (1 as const) : (0 as const),
          }))
          .filter((x) => Number.isFinite(x.score));
        return { rows, scores: labelled.map((x) => x.score), accuracy: accuracy(labelled) };
      });
      ref.catch(() => references.delete(key));
      references.set(key, ref);
    }
    return ref;
  };

  /** Conditions now true, or null for a kind that could not be judged (keep its state). */
  async function conditions(
    model: string,
    environment: Environment,
  ): Promise<{ firing: Condition[]; judged: Set<AlertName> } | undefined> {
    const split = options.splits.currentSplit(model, environment);
    if (!split) return undefined;
    const version = split.stableVersion;
    const since = options.clock.now() - rules.windowMs;
    const served = options.stats.window(model, environment, version, since);
    const base = { model, environment, version };
    const dataset = options.datasetFor?.(model, environment);
    const labels = (alertname: AlertName, severity: string, extra: Record<string, string> = {}) => ({
      alertname,
      ...base,
      severity,
      ...(dataset ? { dataset } : {}),
      ...extra,
    });
    const annotations = (name: AlertName, summary: string, description: string) => ({
      summary,
      description,
      ...(options.runbooks?.[name] ? { runbook: options.runbooks[name]! } : {}),
    });
    const firing: Condition[] = [];
    const judged = new Set<AlertName>();

    // First in the group on purpose: a run answers the group's first alert, and a failing
    // canary is rolled back before anything else (drift) is looked into.
    if (split.canaryVersion === null || split.canaryPercent === 0) {
      judged.add('CanaryDegraded');
    } else {
      const canary = options.stats.window(model, environment, split.canaryVersion, since);
      if (canary.requests >= rules.minRequests) {
        judged.add('CanaryDegraded');
        const errorRate = canary.errors / canary.requests;
        const p99 = percentile(canary.latenciesMs, 0.99);
        const problems = [
          ...(errorRate > rules.maxCanaryErrorRate
            ? [`error rate ${(errorRate * 100).toFixed(1)}% (alert > ${rules.maxCanaryErrorRate * 100}%)`]
            : []),
          ...(p99 > rules.maxP99LatencyMs
            ? [`p99 latency ${p99.toFixed(1)} ms (alert > ${rules.maxP99LatencyMs} ms)`]
            : []),
        ];
        if (problems.length > 0) {
          firing.push({
            labels: labels('CanaryDegraded', 'critical', { version: split.canaryVersion, stable_version: version }),
            annotations: annotations(
              'CanaryDegraded',
              `Canary v${split.canaryVersion} of ${model} is failing in ${environment}`,
              `Over the last ${canary.requests} canary requests (${split.canaryPercent}% of traffic): ${problems.join('; ')}.`,
            ),
          });
        }
      }
    }

    if (served.rows.length >= rules.minRows) {
      judged.add('ModelDriftDetected');
      const artifact = await options.artifacts.loadArtifact(model, version);
      const reference = await referenceFor(model, version, artifact);
      for (const d of measureFeatureDrift(reference.rows, served.rows, columns)) {
        if (d.psi < rules.psiAlert) continue;
        firing.push({
          labels: labels('ModelDriftDetected', 'warning', { feature: d.column }),
          annotations: annotations(
            'ModelDriftDetected',
            `Input drift on ${d.column} for ${model} in ${environment}`,
            `PSI of served ${d.column} against the training data of v${version} is ${d.psi.toFixed(3)} (alert >= ${rules.psiAlert}) over the last ${served.rows.length} predictions.`,
          ),
        });
      }
      const kl = klNumeric(reference.scores, served.scores);
      if (kl > rules.predictionKlAlert) {
        firing.push({
          labels: labels('ModelDriftDetected', 'warning', { feature: 'prediction' }),
          annotations: annotations(
            'ModelDriftDetected',
            `Prediction drift for ${model} in ${environment}`,
            `KL divergence of served scores from the scores on the training data is ${kl.toFixed(3)} (alert > ${rules.predictionKlAlert}).`,
          ),
        });
      }
      if (served.labelled.length >= rules.minLabels) {
        judged.add('ModelAccuracyDrop');
        const acc = accuracy(served.labelled);
        if (reference.accuracy - acc > rules.maxAccuracyDrop) {
          firing.push({
            labels: labels('ModelAccuracyDrop', 'critical'),
            annotations: annotations(
              'ModelAccuracyDrop',
              `Accuracy of ${model} dropped in ${environment}`,
              `Accuracy on ${served.labelled.length} labelled predictions is ${acc.toFixed(3)}, against ${reference.accuracy.toFixed(3)} on the training data (drop > ${rules.maxAccuracyDrop}).`,
            ),
          });
        }
      }
    }
    if (served.requests >= rules.minRequests) {
      judged.add('ModelLatencyHigh');
      const p99 = percentile(served.latenciesMs, 0.99);
      if (p99 > rules.maxP99LatencyMs) {
        firing.push({
          labels: labels('ModelLatencyHigh', 'warning'),
          annotations: annotations(
            'ModelLatencyHigh',
            `p99 latency of ${model} is high in ${environment}`,
            `p99 latency over ${served.requests} requests is ${p99.toFixed(1)} ms (alert > ${rules.maxP99LatencyMs} ms).`,
          ),
        });
      }
    }
    return { firing, judged };
  }

  async function evaluateTarget(model: string, environment: Environment): Promise<AlertmanagerPayload | undefined> {
    const found = await conditions(model, environment);
    if (!found) return undefined;
    const now = new Date(options.clock.now()).toISOString();
    const groupLabels = { model, environment };
    const groupKey = groupKeyOf(groupLabels);
    const current = active.get(groupKey) ?? new Map<string, AlertmanagerAlert>();
    const next = new Map<string, AlertmanagerAlert>();
    let changed = false;
    for (const c of found.firing) {
      const fp = fingerprint(c.labels);
      const previous = current.get(fp);
      if (!previous) changed = true;
      next.set(fp, {
        status: 'firing',
        labels: c.labels,
        annotations: c.annotations,
        startsAt: previous?.startsAt ?? now,
        endsAt: ZERO_TIME,
        generatorURL: `${externalURL}/monitor?model=${encodeURIComponent(model)}&environment=${environment}`,
        fingerprint: fp,
      });
    }
    const resolved: AlertmanagerAlert[] = [];
    for (const [fp, alert] of current) {
      if (next.has(fp)) continue;
      if (!found.judged.has(alert.labels.alertname as AlertName)) next.set(fp, alert);
      else resolved.push({ ...alert, status: 'resolved', endsAt: now });
    }
    active.set(groupKey, next);
    if (!changed && resolved.length === 0) return undefined;
    const alerts = [...next.values(), ...resolved];
    return {
      version: '4',
      groupKey,
      truncatedAlerts: 0,
      status: next.size > 0 ? 'firing' : 'resolved',
      receiver,
      groupLabels,
      commonLabels: commonOf(alerts.map((a) => a.labels)),
      commonAnnotations: commonOf(alerts.map((a) => a.annotations)),
      externalURL,
      alerts,
    };
  }

  const targets = () => {
    if (options.targets) return options.targets();
    const seen = new Map<string, { model: string; environment: Environment }>();
    for (const s of options.stats.served())
      seen.set(`${s.model}\u0000${s.environment}`, { model: s.model, environment: s.environment });
    return [...seen.values()];
  };

  async function evaluate(): Promise<AlertmanagerPayload[]> {
    const sent: AlertmanagerPayload[] = [];
    for (const { model, environment } of targets()) {
      const payload = await evaluateTarget(model, environment);
      if (!payload) continue;
      await options.sink(payload);
      sent.push(payload);
    }
    return sent;
  }

  let timer: NodeJS.Timeout | undefined;
  let inFlight: Promise<unknown> = Promise.resolve();
  return {
    evaluate,
    start(intervalMs) {
      if (timer) return;
      timer = setInterval(() => {
        inFlight = inFlight
          .then(evaluate)
          .catch((err: unknown) => options.logger.warn({ err: describeError(err) }, 'monitor evaluation failed'));
      }, intervalMs);
      timer.unref();
    },
    async stop() {
      if (timer) clearInterval(timer);
      timer = undefined;
      await inFlight;
    },
  };
}
