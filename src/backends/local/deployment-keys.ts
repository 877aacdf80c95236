// What the lab's deployer did under each idempotency key, read and written in its state
// (the same fsync'd file as the split and the rollout, so the key and the work it names are
// saved together). Shared by the deployer and the read-only lab.
import type { DeployerWork, KeyedWork, Shadow } from '../../../tools/ports.js';
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
 * What became of `key`: a rollback or a shadow's end is ended (with what it left), a shadow's
 * start too (with the shadow as `shadowNow` reads it); a canary is started
 * while the rollout it began still steps under that key, ended after (with the rollout as it
 * stands when it is still that version's).
 */
export function lookupKey(
  state: DeploymentState | undefined,
  key: string,
  shadowNow: (model: string, environment: string, version: string) => Shadow | null = () => null,
): KeyedWork<DeployerWork> {
  const known = state?.keys?.[key];
  if (!state || !known) return { state: 'not_started' };
  if (known.kind === 'rollback' || known.kind === 'shadow_end') return { state: 'ended', work: known };
  // A shadow is started in one durable write: its start has ended; the shadow is as it stands now.
  if (known.kind === 'shadow')
    return { state: 'ended', work: { ...known, shadow: shadowNow(known.model, known.environment, known.version) } };
  const entryKey = entryKeyOf(known.model, known.environment);
  const rollout = state.entries[entryKey]?.rollout ?? null;
  const stepping = state.stepping?.[entryKey]?.idempotencyKey === key && rollout?.status === 'progressing';
  return {
    state: stepping ? 'started' : 'ended',
    work: { ...known, rollout: rollout?.canaryVersion === known.version ? rollout : null },
  };
}
