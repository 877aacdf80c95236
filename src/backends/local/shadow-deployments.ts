// The lab deployer's shadows: which candidate versions are mirrored what share of a model's
// stable requests, kept in the deployer's state file with the split (so a shadow, and the
// key it was started under, are saved in one fsync'd write), and their analysis against the
// stable version, read from the serving stats whenever it is asked for.
import type { Clock } from '../../clock.js';
import { UserError } from '../../errors.js';
import type { Environment, Shadow, ShadowEndRequest, ShadowRequest } from '../../../tools/ports.js';
import type { CanaryThresholds } from './canary-analysis.js';
import type { DeploymentEntry, DeploymentState, HistoryRecord, KeyRecord, StoredShadow } from './deployment-store.js';
import { entryKeyOf } from './deployment-keys.js';
import { oncePerKey } from '../once-per-key.js';
import type { ServingStats } from './serving-stats.js';
import { analyseShadow } from './shadow-analysis.js';

/** Shadows running at once per model and environment: each one scores its share of requests again. */
export const MAX_RUNNING_SHADOWS = 3;
/** Ended shadows kept per model and environment (the newest), with their last analysis. */
export const ENDED_SHADOWS_KEPT = 5;

export interface ShadowDeployments {
  start(request: ShadowRequest): Promise<Shadow>;
  end(request: ShadowEndRequest): Promise<Shadow>;
  list(model: string, environment: Environment): Shadow[];
  /** The shadow of `version` (running, or the latest ended), with its analysis now. */
  find(model: string, environment: string, version: string): Shadow | null;
  /** For the router: running shadows and their shares, read on every request. */
  running(model: string, environment: Environment): { version: string; mirrorPercent: number }[];
  /** Ends, in `state` (the caller's next commit saves it), the running shadow of a version that now serves as stable. */
  endBecauseStable(model: string, environment: Environment, version: string, reason: string): void;
}

export interface ShadowDeploymentsDeps {
  state: DeploymentState;
  stats: ServingStats;
  thresholds: CanaryThresholds;
  clock: Clock;
  entryFor(model: string, environment: Environment): DeploymentEntry;
  requirePromotable(model: string, version: string): Promise<void>;
  /** Saves the state without a move (a key learnt for a shadow that changed nothing). */
  save(): Promise<void>;
  remember(key: string, record: KeyRecord): void;
  commit(
    model: string,
    environment: Environment,
    entry: DeploymentEntry,
    record: Omit<HistoryRecord, 'at' | 'model' | 'environment' | 'split'>,
  ): Promise<void>;
}

export function createShadowDeployments(deps: ShadowDeploymentsDeps): ShadowDeployments {
  const { state, stats, thresholds, clock } = deps;
  const iso = () => new Date(clock.now()).toISOString();
  const storedOf = (model: string, environment: string): StoredShadow[] =>
    state.shadows?.[entryKeyOf(model, environment)] ?? [];
  const setStored = (model: string, environment: string, list: StoredShadow[]) => {
    // Running first; of the ended, only the newest are kept.
    const running = list.filter((s) => s.status === 'running');
    const ended = list.filter((s) => s.status === 'ended').slice(-ENDED_SHADOWS_KEPT);
    state.shadows = { ...state.shadows, [entryKeyOf(model, environment)]: [...running, ...ended] };
  };

  /** The shadow with its analysis: computed now while it runs, as kept once it ended. */
  function withAnalysis(stored: StoredShadow): Shadow {
    const { finalAnalysis, ...shadow } = stored;
    if (stored.status === 'ended') return { ...shadow, analysis: finalAnalysis };
    const split = state.entries[entryKeyOf(stored.model, stored.environment)]?.split;
    if (!split) return { ...shadow, analysis: null };
    const since = Date.parse(stored.startedAt);
    return {
      ...shadow,
      analysis: analyseShadow({
        shadow: stats.shadowWindow(stored.model, stored.environment, stored.version, split.stableVersion, since),
        stable: stats.window(stored.model, stored.environment, split.stableVersion, since),
        stableVersion: split.stableVersion,
        thresholds,
        at: iso(),
      }),
    };
  }

  const endedCopy = (stored: StoredShadow, reason: string): StoredShadow => ({
    ...stored,
    status: 'ended',
    endedAt: iso(),
    reason,
    finalAnalysis: withAnalysis(stored).analysis,
  });

  async function start(request: ShadowRequest): Promise<Shadow> {
    const { model, version, environment, mirrorPercent, requestedBy, idempotencyKey } = request;
    if (!Number.isInteger(mirrorPercent) || mirrorPercent < 1 || mirrorPercent > 100)
      throw new UserError(`mirrorPercent must be an integer from 1 to 100, got ${mirrorPercent}`);
    const known = idempotencyKey ? state.keys?.[idempotencyKey] : undefined;
    if (known) {
      if (
        known.kind !== 'shadow' ||
        known.model !== model ||
        known.environment !== environment ||
        known.version !== version ||
        known.mirrorPercent !== mirrorPercent
      )
        throw new UserError(
          `idempotency key "${idempotencyKey}" was already used at ${known.at} for another request (${known.kind} of ${known.model} in ${known.environment}); nothing was started`,
        );
      // Started before under this key: that shadow, as it stands now, is the answer.
      const found = find(model, environment, version);
      if (found) return found;
      throw new UserError(`the shadow of ${model} v${version} started under this key is no longer kept`, {
        code: 'not_found',
      });
    }
    deps.entryFor(model, environment);
    await deps.requirePromotable(model, version);
    // Read after the await: traffic may have moved meanwhile.
    const entry = deps.entryFor(model, environment);
    if (entry.split.stableVersion === version)
      throw new UserError(
        `${model} v${version} already serves as the stable version in ${environment}; it has nothing to shadow`,
      );
    if (entry.split.canaryVersion === version && entry.split.canaryPercent > 0)
      throw new UserError(
        `${model} v${version} is the canary in ${environment}: it already answers ${entry.split.canaryPercent}% of requests and its own analysis compares it with stable; roll it back first to shadow it instead`,
      );
    const list = storedOf(model, environment);
    const current = list.find((s) => s.status === 'running' && s.version === version);
    if (current && current.mirrorPercent === mirrorPercent) {
      // The same shadow already runs at that share: nothing changes, and no move is recorded; a key still learns its answer.
      if (idempotencyKey) {
        deps.remember(idempotencyKey, { kind: 'shadow', model, environment, version, mirrorPercent, at: iso() });
        await deps.save();
      }
      return withAnalysis(current);
    }
    const running = list.filter((s) => s.status === 'running');
    if (!current && running.length >= MAX_RUNNING_SHADOWS)
      throw new UserError(
        `${running.length} shadows of ${model} already run in ${environment} (v${running.map((s) => s.version).join(', v')}); end one with end_shadow first`,
      );
    const next: StoredShadow = current
      ? { ...current, mirrorPercent }
      : {
          model,
          environment,
          version,
          mirrorPercent,
          status: 'running',
          startedAt: iso(),
          endedAt: null,
          requestedBy,
          reason: null,
          finalAnalysis: null,
        };
    setStored(model, environment, [...list.filter((s) => s !== current), next]);
    if (idempotencyKey)
      deps.remember(idempotencyKey, { kind: 'shadow', model, environment, version, mirrorPercent, at: iso() });
    await deps.commit(model, environment, entry, {
      action: 'shadow_start',
      by: requestedBy,
      reason: current
        ? `shadow ${version} now mirrors ${mirrorPercent}% of stable requests (was ${current.mirrorPercent}%)`
        : `shadow ${version} mirrors ${mirrorPercent}% of stable requests`,
    });
    return withAnalysis(next);
  }

  async function end(request: ShadowEndRequest): Promise<Shadow> {
    const { model, environment, version, reason, requestedBy, idempotencyKey } = request;
    const known = idempotencyKey ? state.keys?.[idempotencyKey] : undefined;
    if (known) {
      if (
        known.kind !== 'shadow_end' ||
        known.model !== model ||
        known.environment !== environment ||
        known.version !== version
      )
        throw new UserError(
          `idempotency key "${idempotencyKey}" was already used at ${known.at} for another request (${known.kind} of ${known.model} in ${known.environment}); nothing was ended`,
        );
      return known.shadow;
    }
    const entry = deps.entryFor(model, environment);
    const list = storedOf(model, environment);
    const current = list.find((s) => s.status === 'running' && s.version === version);
    if (!current)
      throw new UserError(`no shadow of ${model} v${version} runs in ${environment}; nothing was ended`, {
        code: 'not_found',
      });
    const ended = endedCopy(current, reason);
    setStored(model, environment, [...list.filter((s) => s !== current), ended]);
    const { finalAnalysis, ...rest } = ended;
    const shadow: Shadow = { ...rest, analysis: finalAnalysis };
    if (idempotencyKey)
      deps.remember(idempotencyKey, { kind: 'shadow_end', model, environment, version, at: iso(), shadow });
    await deps.commit(model, environment, entry, {
      action: 'shadow_end',
      by: requestedBy,
      reason: `shadow ${version} ended: ${reason}`,
      analysis: finalAnalysis ?? undefined,
    });
    return shadow;
  }

  function find(model: string, environment: string, version: string): Shadow | null {
    const list = storedOf(model, environment).filter((s) => s.version === version);
    const stored = list.find((s) => s.status === 'running') ?? list.at(-1);
    return stored ? withAnalysis(stored) : null;
  }

  return {
    start: oncePerKey(start),
    end: oncePerKey(end),
    list: (model, environment) => storedOf(model, environment).map(withAnalysis),
    find,
    running: (model, environment) =>
      storedOf(model, environment)
        .filter((s) => s.status === 'running')
        .map(({ version, mirrorPercent }) => ({ version, mirrorPercent })),
    endBecauseStable(model, environment, version, reason) {
      const list = storedOf(model, environment);
      const current = list.find((s) => s.status === 'running' && s.version === version);
      if (current) setStored(model, environment, [...list.filter((s) => s !== current), endedCopy(current, reason)]);
    },
  };
}
