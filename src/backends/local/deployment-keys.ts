// What the lab's deployer did under each idempotency key, read and written in its state
// (the same fsync'd file as the split and the rollout, so the key and the work it names are
// saved together). Shared by the deployer and the read-only lab.
import type { DeployerWork, KeyedWork } from '../../../tools/ports.js';
import type { DeploymentState, KeyRecord } from './deployment-store.js';

/** What was done under a key is remembered this long: far longer than any run lives. */
export const KEYS_KEPT_MS = 30 * 24 * 3600 * 1000;

export const entryKeyOf = (model: string, environment: string) => `${model}\u0000${environment}`;

/** Keeps `record` under `key` in `state` (the next save writes it), forgetting records past KEYS_KEPT_MS. */
export function rememberKey(state: DeploymentState, key: string, record: KeyRecord, now: number): void {
  const kept = Object.entries(state.keys ?? {}).filter(([, r]) => Date.parse(r.at) >= now - KEYS_KEPT_MS);
  state.keys = { ...Object.fromEntries(kept), [key]: record };
}

/**
 * What became of `key`: a rollback is ended (with the split it left); a canary is started
 * while the rollout it began still steps under that key, ended after (with the rollout as it
 * stands when it is still that version's).
 */
export function lookupKey(state: DeploymentState | undefined, key: string): KeyedWork<DeployerWork> {
  const known = state?.keys?.[key];
  if (!state || !known) return { state: 'not_started' };
  if (known.kind === 'rollback') return { state: 'ended', work: known };
  const entryKey = entryKeyOf(known.model, known.environment);
  const rollout = state.entries[entryKey]?.rollout ?? null;
  const stepping = state.stepping?.[entryKey]?.idempotencyKey === key && rollout?.status === 'progressing';
  return {
    state: stepping ? 'started' : 'ended',
    work: { ...known, rollout: rollout?.canaryVersion === known.version ? rollout : null },
  };
}
