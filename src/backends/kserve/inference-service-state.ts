// What the deployer keeps on the InferenceService itself, so the cluster is the one record
// any process reads: annotations naming the versions, the rollout, and the idempotency
// keys patches were made under; and the traffic split as KServe's controller reports it
// in status.components.predictor.traffic.
import { UserError } from '../../errors.js';
import type { DeployerWork, Environment, KeyedWork, Rollout, TrafficSplit } from '../../../tools/ports.js';
import type { InferenceService } from './inference-service-api.js';
import type { InferenceServiceTarget } from './settings.js';

export const ANNOTATION = {
  /** The key of the call the latest patch was made for (absent when it had none). */
  idempotencyKey: 'mlops-agent/idempotency-key',
  /** The version of the latest rolled-out revision. */
  stableVersion: 'mlops-agent/stable-version',
  /** The version of the canary revision while one holds (or is about to hold) traffic. */
  canaryVersion: 'mlops-agent/canary-version',
  /** The latest rollout (JSON), with the key it was started under. */
  rollout: 'mlops-agent/rollout',
  /** What was done under each key (JSON), the newest KEYS_KEPT kept. */
  keys: 'mlops-agent/keys',
} as const;

/** Keys remembered per InferenceService: annotations are small (256 KiB for all of them). */
export const KEYS_KEPT = 50;

/** This adapter runs no shadows, so it keeps no key for one. */
export type KeyRecord =
  Extract<DeployerWork, { kind: 'rollback' }> | Omit<Extract<DeployerWork, { kind: 'canary' }>, 'rollout'>;
export type StoredRollout = Rollout & { idempotencyKey: string | null };

export const nameOf = (t: InferenceServiceTarget) => t.name ?? t.model;
export const describeTarget = (t: InferenceServiceTarget) => `InferenceService ${t.namespace}/${nameOf(t)}`;

export function storageUriFor(t: InferenceServiceTarget, version: string): string {
  return t.storageUri.replaceAll('{{model}}', t.model).replaceAll('{{version}}', version);
}

/** The version a storageUri names under the target's template, if it matches. */
export function versionFromUri(t: InferenceServiceTarget, uri: string): string | undefined {
  const pattern = t.storageUri
    .replaceAll('{{model}}', t.model)
    .split('{{version}}')
    .map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
    .join('([^/]+)');
  return new RegExp(`^${pattern}$`).exec(uri)?.[1];
}

const annotations = (isvc: InferenceService) => isvc.metadata.annotations ?? {};

export function readKeys(isvc: InferenceService): Record<string, KeyRecord> {
  const text = annotations(isvc)[ANNOTATION.keys];
  return text ? (JSON.parse(text) as Record<string, KeyRecord>) : {};
}

/** The keys annotation with `record` added under `key`, the oldest dropped past KEYS_KEPT. */
export function withKey(isvc: InferenceService, key: string, record: KeyRecord): string {
  const kept = Object.entries(readKeys(isvc))
    .sort(([, a], [, b]) => a.at.localeCompare(b.at))
    .slice(-(KEYS_KEPT - 1));
  return JSON.stringify(Object.fromEntries([...kept, [key, record]]));
}

export function readRollout(isvc: InferenceService): StoredRollout | undefined {
  const text = annotations(isvc)[ANNOTATION.rollout];
  return text ? (JSON.parse(text) as StoredRollout) : undefined;
}

export const publicRollout = ({ idempotencyKey: _key, ...rollout }: StoredRollout): Rollout => rollout;

/** True once the controller has acted on the latest spec and reports the predictor's traffic. */
export function reconciled(isvc: InferenceService): boolean {
  const observed = isvc.status?.observedGeneration ?? 0;
  return observed >= (isvc.metadata.generation ?? 0) && (isvc.status?.components?.predictor?.traffic?.length ?? 0) > 0;
}

/** The split as the status reports it: the canary's share is the latest revision's while it is not yet rolled out. */
export function splitOf(t: InferenceServiceTarget, environment: Environment, isvc: InferenceService): TrafficSplit {
  const predictor = isvc.status?.components?.predictor;
  const latest = predictor?.traffic?.find((x) => x.latestRevision === true);
  const canaryHolds =
    predictor?.latestReadyRevision !== undefined && predictor.latestReadyRevision !== predictor.latestRolledoutRevision;
  const canaryVersion = annotations(isvc)[ANNOTATION.canaryVersion] ?? null;
  const canaryPercent = canaryVersion !== null && canaryHolds ? (latest?.percent ?? 0) : 0;
  const stableVersion =
    annotations(isvc)[ANNOTATION.stableVersion] ?? versionFromUri(t, isvc.spec.predictor.model?.storageUri ?? '');
  if (stableVersion === undefined) {
    throw new UserError(
      `cannot tell which version ${describeTarget(t)} serves: its storageUri ${JSON.stringify(isvc.spec.predictor.model?.storageUri)} does not match the configured template ${JSON.stringify(t.storageUri)}; fix kserve.inferenceServices[].storageUri`,
      { code: 'config_invalid' },
    );
  }
  return {
    model: t.model,
    environment,
    stableVersion,
    canaryVersion: canaryPercent > 0 ? canaryVersion : null,
    canaryPercent,
    lastKnownGoodVersion: stableVersion,
  };
}

/** What was done under `key` on this InferenceService, or undefined when nothing was. */
export function workUnder(
  isvc: InferenceService,
  key: string,
): Exclude<KeyedWork<DeployerWork>, { state: 'not_started' }> | undefined {
  const known = readKeys(isvc)[key];
  if (!known) return undefined;
  if (known.kind === 'rollback') return { state: 'ended', work: known };
  const rollout = readRollout(isvc);
  const same = rollout?.idempotencyKey === key && rollout.canaryVersion === known.version ? rollout : undefined;
  return {
    state: same?.status === 'progressing' ? 'started' : 'ended',
    work: { ...known, rollout: same ? publicRollout(same) : null },
  };
}
