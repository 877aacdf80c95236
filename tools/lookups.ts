// Lookups the tools share: a model, version or served split that must exist, or the call
// is a not-found (a tool error naming what is missing, never a policy refusal).
import { NotFoundError } from '../src/errors.js';
import type { Backends, Environment, ModelVersion, TrafficSplit } from './ports.js';

/** Throws NotFoundError unless the registry knows `model`. */
export async function requireModel(registry: Backends['registry'], model: string): Promise<void> {
  const models = await registry.listModels();
  if (!models.some((m) => m.name === model)) {
    const known = models.map((m) => m.name);
    throw new NotFoundError(
      `model "${model}" is not in the registry${known.length ? ` (known: ${known.join(', ')})` : ' (it has no models yet)'}`,
    );
  }
}

/** The version, or NotFoundError naming the model and version. */
export async function requireVersion(
  registry: Backends['registry'],
  model: string,
  version: string,
): Promise<ModelVersion> {
  const found = await registry.getVersion(model, version);
  if (found) return found;
  await requireModel(registry, model);
  throw new NotFoundError(`model "${model}" has no version "${version}"`);
}

/** The split of a served model, or NotFoundError: the model is unknown, or not served there. */
export async function requireSplit(backends: Backends, model: string, environment: Environment): Promise<TrafficSplit> {
  const split = await backends.deployer.getSplit(model, environment);
  if (split) return split;
  await requireModel(backends.registry, model);
  throw new NotFoundError(`model "${model}" is not served in ${environment} (no version of it takes traffic there)`);
}

/**
 * The quality gates a version failed, by name. A version with no gate measured at all (never
 * evaluated) counts as failing `evaluation`: nothing shows it is fit to serve.
 */
export function failedQualityGates(version: ModelVersion): string[] {
  if (version.qualityGates.length === 0) return ['evaluation'];
  return version.qualityGates.filter((g) => !g.passed).map((g) => g.gate);
}

/** Each failed quality gate with its measured value against its bound, e.g. `auc 0.48 < 0.82`. */
export function qualityGateFailures(version: ModelVersion): string[] {
  if (version.qualityGates.length === 0)
    return ['evaluation: the version was never evaluated (no quality gate was measured)'];
  return version.qualityGates
    .filter((g) => !g.passed)
    .map((g) => `${g.gate} ${round(g.value)} ${g.direction === 'min' ? '<' : '>'} ${round(g.threshold)}`);
}

/**
 * The candidate's quality as a deployment's risk sees it: its AUC less the stable version's
 * (0 when either is unknown), and the gates it failed.
 */
export function candidateQuality(
  candidate: ModelVersion,
  stable: ModelVersion | undefined,
): { qualityDelta: number; failedQualityGates: string[]; qualityGateFailures: string[] } {
  const aucNow = stable?.metrics.auc;
  const aucCandidate = candidate.metrics.auc;
  return {
    qualityDelta: aucNow !== undefined && aucCandidate !== undefined ? aucCandidate - aucNow : 0,
    failedQualityGates: failedQualityGates(candidate),
    qualityGateFailures: qualityGateFailures(candidate),
  };
}

function round(n: number): string {
  return Number.isInteger(n) ? String(n) : String(Number(n.toPrecision(3)));
}
