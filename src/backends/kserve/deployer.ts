// A Deployer over KServe: a canary is the InferenceService's predictor with the new
// version's storageUri and `canaryTrafficPercent`; each step patches the percent, waits for
// the controller to report the split in status.components.predictor.traffic, and asks the
// canary analyzer (Prometheus) before going on. Promotion removes canaryTrafficPercent (the
// latest revision takes all traffic and becomes the rolled-out one); rollback sets it to 0,
// which pins all traffic to the last rolled-out revision. The rollout and every
// idempotency key live in annotations on the InferenceService, written in the same patch
// as the traffic change, so any process answers `lookup(key)` from the cluster.
import type { KubeConfig } from '@kubernetes/client-node';
import { UpstreamError, UserError, describeError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import type {
  CanaryAnalysis,
  CanaryRequest,
  Deployer,
  Environment,
  ModelRegistry,
  Rollout,
  TrafficSplit,
} from '../../../tools/ports.js';
import { checksBehind, failureReason, type CanaryAnalyzer } from '../canary-analyzer.js';
import { oncePerKey } from '../once-per-key.js';
import {
  ConflictError,
  createInferenceServiceApi,
  loadKubeConfig,
  type InferenceService,
  type InferenceServiceApi,
  type InferenceServicePatch,
} from './inference-service-api.js';
import {
  ANNOTATION,
  describeTarget,
  nameOf,
  publicRollout,
  readKeys,
  readRollout,
  reconciled,
  splitOf,
  storageUriFor,
  withKey,
  workUnder,
  type KeyRecord,
  type StoredRollout,
} from './inference-service-state.js';
import { kserveDeployerSettingsSchema, type InferenceServiceTarget, type KServeDeployerSettings } from './settings.js';

export interface KServeDeployerDeps {
  /** Judges each step and a held canary (the Prometheus analyzer). */
  analyzer: CanaryAnalyzer;
  /** Versions that failed their quality gates are refused; a promotion moves `promoteAlias` there. */
  registry: Pick<ModelRegistry, 'getVersion' | 'setAlias'>;
  logger: Logger;
  /** A loaded kubeconfig; absent: from settings.kubeconfig, in-cluster, or the default. */
  kubeConfig?: KubeConfig;
}

export interface KServeDeployer extends Deployer {
  readonly settings: KServeDeployerSettings;
  /**
   * Settles once the InferenceServices were read at open: a canary left holding traffic by a
   * process that stopped (paused, or progressing with no loop here) is watched again, and a
   * promotion whose alias did not move is recorded again. Errors are logged, never thrown.
   */
  readonly resumed: Promise<void>;
  /** Stops the stepping loops and the watches of held canaries; what they committed stays on the cluster. */
  close(): Promise<void>;
}

interface Loop {
  stopped: boolean;
  done: Promise<Rollout> | null;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const keyOf = (model: string, environment: Environment) => `${model}\u0000${environment}`;
const iso = () => new Date().toISOString();
const promotedReason = (version: string) => `canary ${version} passed every step and was promoted`;
/** Reads and patches tried before a 409 is given up on: the controller's status writes cause most. */
const CONFLICT_ATTEMPTS = 5;

/** Thrown from a patch's build when its idempotency key turned up on the object meanwhile. */
class KeyTakenMeanwhile extends Error {}

function refuseShadow(): never {
  throw new UserError(
    'shadow deployments need the lab deployer (backends.deployer: local): the KServe deployer splits traffic between versions but cannot mirror requests to a version whose answers go to nobody; use deploy_canary with a small trafficPercent instead',
    { code: 'input_invalid' },
  );
}

export function parseKServeDeployerSettings(input: unknown): KServeDeployerSettings {
  const parsed = kserveDeployerSettingsSchema.safeParse(input);
  if (!parsed.success) {
    throw new UserError(
      `kserve deployer settings: ${parsed.error.issues.map((i) => `${['kserve', ...i.path].join('.')}: ${i.message}`).join('; ')}`,
      { code: 'config_invalid' },
    );
  }
  return parsed.data;
}

export function createKServeDeployer(input: unknown, deps: KServeDeployerDeps): KServeDeployer {
  const settings = parseKServeDeployerSettings(input);
  const api: InferenceServiceApi = createInferenceServiceApi(deps.kubeConfig ?? loadKubeConfig(settings));
  const { analyzer, logger } = deps;
  const steps = [...new Set(settings.steps)].sort((a, b) => a - b);
  const running = new Map<string, Loop>();
  const watches = new Map<string, { timer: NodeJS.Timeout; failures: number }>();

  const targetFor = (model: string, environment: Environment) =>
    settings.inferenceServices.find((t) => t.model === model && t.environment === environment);
  const requireTarget = (model: string, environment: Environment): InferenceServiceTarget => {
    const t = targetFor(model, environment);
    if (!t)
      throw new UserError(
        `model "${model}" in ${environment} is not among kserve.inferenceServices; add it there to deploy it with KServe`,
        { code: 'not_found' },
      );
    return t;
  };
  async function read(t: InferenceServiceTarget): Promise<InferenceService> {
    const isvc = await api.get(t.namespace, nameOf(t));
    if (!isvc)
      throw new UserError(
        `${describeTarget(t)} not found at ${api.server}; create it (with KServe installed), or fix kserve.inferenceServices`,
        { code: 'not_found' },
      );
    return isvc;
  }

  /**
   * Reads the InferenceService, builds a patch from it, and sends it with the resourceVersion
   * read, so anyone else's change in between (an operator, another agent, the controller
   * writing status) is never overwritten. On a 409 the patch is built again from a fresh read,
   * as client-go's RetryOnConflict does: `build` decides again on what is there now (and may
   * refuse). `stillOurs` is checked after each read, before the write.
   */
  async function commit(
    t: InferenceServiceTarget,
    build: (isvc: InferenceService) => InferenceServicePatch,
    stillOurs: () => boolean = () => true,
  ): Promise<InferenceService | undefined> {
    for (let attempt = 1; ; attempt++) {
      const isvc = await read(t);
      if (!stillOurs()) return undefined;
      const patch = build(isvc);
      try {
        return await api.patch(t.namespace, nameOf(t), {
          ...patch,
          metadata: { ...patch.metadata, resourceVersion: isvc.metadata.resourceVersion },
        });
      } catch (err) {
        if (!(err instanceof ConflictError) || attempt >= CONFLICT_ATTEMPTS) throw err;
        logger.debug({ model: t.model, environment: t.environment, attempt }, 'kserve patch conflicted; reading again');
      }
    }
  }

  /** Waits for the controller to act on the patched spec (observedGeneration) and report traffic. */
  async function untilReconciled(t: InferenceServiceTarget, patched: InferenceService): Promise<InferenceService> {
    const until = Date.now() + settings.reconcileTimeoutMs;
    let isvc = patched;
    while (!(reconciled(isvc) && (isvc.status?.observedGeneration ?? 0) >= (patched.metadata.generation ?? 0))) {
      if (Date.now() > until) {
        const ready = isvc.status?.conditions?.find((c) => c.type === 'Ready');
        throw new UpstreamError(
          'kserve',
          `the KServe controller did not report ${describeTarget(t)}'s new traffic within ${settings.reconcileTimeoutMs} ms${ready?.message ? ` (Ready: ${ready.status}, ${ready.message})` : ''}; check the controller and the predictor's pods`,
          { retryable: true },
        );
      }
      await sleep(settings.pollMs);
      isvc = await read(t);
    }
    return isvc;
  }

  const annotationsFor = (
    isvc: InferenceService,
    rollout: StoredRollout | null,
    key: string | undefined,
    record: KeyRecord | undefined,
    extra: Record<string, string | null> = {},
  ) => ({
    [ANNOTATION.idempotencyKey]: key ?? null,
    ...(rollout ? { [ANNOTATION.rollout]: JSON.stringify(rollout) } : {}),
    ...(key && record ? { [ANNOTATION.keys]: withKey(isvc, key, record) } : {}),
    ...extra,
  });

  async function requirePromotable(model: string, version: string): Promise<void> {
    let found: { promotable: boolean } | undefined;
    try {
      found = await deps.registry.getVersion(model, version);
    } catch (err) {
      throw new UpstreamError('registry', `could not read ${model} v${version}: ${describeError(err)}`, {
        retryable: true,
        cause: err,
      });
    }
    if (!found) throw new UserError(`model "${model}" has no version "${version}"`, { code: 'not_found' });
    if (!found.promotable)
      throw new UserError(
        `${model} v${version} failed its quality gates and can never be promoted; train a better version`,
      );
  }

  /** Records the rollout's new state (annotations only: no new revision, no traffic change). */
  async function saveRollout(t: InferenceServiceTarget, rollout: StoredRollout, loop?: Loop): Promise<void> {
    await commit(
      t,
      (isvc) => ({
        metadata: { annotations: annotationsFor(isvc, rollout, rollout.idempotencyKey ?? undefined, undefined) },
      }),
      () => !loop?.stopped,
    );
  }

  async function pause(
    t: InferenceServiceTarget,
    rollout: StoredRollout,
    reason: string,
    loop: Loop,
  ): Promise<Rollout> {
    const paused: StoredRollout = { ...rollout, status: 'paused', reason };
    await saveRollout(t, paused, loop);
    return publicRollout(paused);
  }

  /** Pins all traffic to the last rolled-out revision (canaryTrafficPercent 0). */
  async function rollBack(
    t: InferenceServiceTarget,
    by: string,
    reason: string,
    key?: string,
    analysis?: CanaryAnalysis,
  ): Promise<{ split: TrafficSplit; rollout: Rollout | undefined }> {
    const patched = await commit(t, (isvc) => {
      const before = splitOf(t, t.environment, isvc);
      const split: TrafficSplit = { ...before, canaryVersion: null, canaryPercent: 0 };
      const current = readRollout(isvc);
      const rollout =
        current && (current.status === 'progressing' || current.status === 'paused')
          ? {
              ...current,
              canaryPercent: 0,
              status: 'rolled_back' as const,
              reason,
              analyses:
                analysis && current.analyses.at(-1) !== analysis ? [...current.analyses, analysis] : current.analyses,
            }
          : null;
      const record: KeyRecord | undefined = key
        ? { kind: 'rollback', model: t.model, environment: t.environment, at: iso(), split }
        : undefined;
      return {
        metadata: { annotations: annotationsFor(isvc, rollout, key, record, { [ANNOTATION.canaryVersion]: null }) },
        spec: { predictor: { canaryTrafficPercent: 0 } },
      };
    });
    const isvc = await untilReconciled(t, patched!);
    logger.info({ model: t.model, environment: t.environment, by, reason }, 'kserve rollback');
    const rollout = readRollout(isvc);
    return { split: splitOf(t, t.environment, isvc), rollout: rollout ? publicRollout(rollout) : undefined };
  }

  async function promote(t: InferenceServiceTarget, rollout: StoredRollout, loop: Loop): Promise<Rollout> {
    const promoted: StoredRollout = {
      ...rollout,
      canaryPercent: 100,
      status: 'promoted',
      reason: promotedReason(rollout.canaryVersion!),
    };
    const patched = await commit(
      t,
      (isvc) => ({
        metadata: {
          annotations: annotationsFor(isvc, promoted, rollout.idempotencyKey ?? undefined, undefined, {
            [ANNOTATION.stableVersion]: rollout.canaryVersion,
            [ANNOTATION.canaryVersion]: null,
          }),
        },
        // Removing the field sends all traffic to the latest revision, which becomes the rolled-out one.
        spec: { predictor: { canaryTrafficPercent: null } },
      }),
      () => !loop.stopped,
    );
    if (!patched) return (await currentRollout(t))!;
    await untilReconciled(t, patched);
    return recordPromotion(t, promoted);
  }

  /**
   * Moves the environment's promotion alias (champion in production) to the version the
   * cluster now serves. After the traffic change, since the cluster is what serves; idempotent,
   * so a retried promotion (or one found on open) moves it again harmlessly. When the
   * registry cannot be reached the promotion stands and its reason says the alias did not move.
   */
  async function recordPromotion(t: InferenceServiceTarget, stored: StoredRollout): Promise<Rollout> {
    const alias = settings.promoteAlias[t.environment];
    const version = stored.canaryVersion;
    if (!alias || stored.status !== 'promoted' || !version) return publicRollout(stored);
    const promoted: StoredRollout = { ...stored, reason: promotedReason(version) };
    try {
      await deps.registry.setAlias(t.model, alias, version, 'kserve-deployer', promoted.reason!);
      // A retry that moved it: the note that it had not moved is no longer true.
      if (stored.reason !== promoted.reason) await saveRollout(t, promoted);
      return publicRollout(promoted);
    } catch (err) {
      logger.error(
        { err: describeError(err), model: t.model, environment: t.environment, alias, version },
        'promoted, but the registry alias did not move',
      );
      const noted: StoredRollout = {
        ...promoted,
        reason: `${promoted.reason}; the registry's ${alias} alias was not moved to ${version} (${describeError(err)}): call deployCanary again with the same key, or move it by hand`,
      };
      await saveRollout(t, noted).catch(() => undefined);
      return publicRollout(noted);
    }
  }

  async function currentRollout(t: InferenceServiceTarget): Promise<Rollout | undefined> {
    const rollout = readRollout(await read(t));
    return rollout ? publicRollout(rollout) : undefined;
  }

  /** Steps the canary: analysis after each step, then the next step, until the target, a failure, or the deadline. */
  async function drive(
    t: InferenceServiceTarget,
    start: StoredRollout,
    stepPending: boolean,
    loop: Loop,
    deadline: number,
    patched: InferenceService,
  ): Promise<Rollout> {
    let rollout = start;
    let pending = stepPending;
    // The first step's patch is sent before the loop starts: analyse only once the controller shows its traffic.
    await untilReconciled(t, patched);
    for (;;) {
      if (loop.stopped) return (await currentRollout(t))!;
      if (pending) {
        if (Date.now() >= deadline)
          return pause(
            t,
            rollout,
            `timed out at ${rollout.canaryPercent}% before its analysis; call deployCanary again to continue`,
            loop,
          );
        const analysis = await analyzer.analyse({
          model: t.model,
          environment: t.environment,
          canaryVersion: rollout.canaryVersion!,
          stableVersion: rollout.stableVersion,
          trafficPercent: rollout.canaryPercent,
        });
        if (loop.stopped) return (await currentRollout(t))!;
        rollout = { ...rollout, analyses: [...rollout.analyses, analysis] };
        if (analysis.verdict === 'failed') {
          loop.stopped = true;
          await rollBack(
            t,
            'canary-analysis',
            `canary analysis failed at ${rollout.canaryPercent}%: ${failureReason(analysis)}`,
            undefined,
            analysis,
          );
          return (await currentRollout(t))!;
        }
        if (analysis.verdict === 'inconclusive') {
          const lacking = checksBehind(analysis).unmeasured;
          return pause(
            t,
            rollout,
            `canary analysis inconclusive at ${rollout.canaryPercent}% (no data for ${lacking.join(', ')}); call deployCanary again to continue`,
            loop,
          );
        }
        await saveRollout(t, rollout, loop);
        pending = false;
      }
      if (rollout.canaryPercent >= rollout.targetPercent) {
        // A step of 100% (steps: [100]) passed with all traffic on the canary: no higher target exists, so promote.
        if (rollout.canaryPercent >= 100) return promote(t, rollout, loop);
        return pause(
          t,
          rollout,
          `reached the authorised ${rollout.targetPercent}%; call deployCanary with a higher target to continue`,
          loop,
        );
      }
      const next = Math.min(steps.find((s) => s > rollout.canaryPercent) ?? 100, rollout.targetPercent);
      if (next === 100) return promote(t, rollout, loop);
      const stepped: StoredRollout = { ...rollout, canaryPercent: next, status: 'progressing', reason: null };
      const patched = await commit(
        t,
        (isvc) => ({
          metadata: { annotations: annotationsFor(isvc, stepped, rollout.idempotencyKey ?? undefined, undefined) },
          spec: { predictor: { canaryTrafficPercent: next } },
        }),
        () => !loop.stopped,
      );
      if (!patched) return (await currentRollout(t))!;
      await untilReconciled(t, patched);
      rollout = stepped;
      pending = true;
    }
  }

  function launch(
    t: InferenceServiceTarget,
    rollout: StoredRollout,
    stepPending: boolean,
    deadline: number,
    patched: InferenceService,
  ): Loop {
    const k = keyOf(t.model, t.environment);
    const loop: Loop = { stopped: false, done: null };
    running.set(k, loop);
    loop.done = (async () => {
      try {
        return await drive(t, rollout, stepPending, loop, deadline, patched);
      } catch (err) {
        // A loop that died (the cluster unreachable, a 409 from someone else's change) leaves its rollout paused, not progressing for ever.
        if (!loop.stopped) {
          await commit(t, (isvc) => {
            const current = readRollout(isvc);
            const paused =
              current?.status === 'progressing'
                ? {
                    ...current,
                    status: 'paused' as const,
                    reason: `stepping stopped on an error: ${describeError(err)}; call deployCanary again to continue`,
                  }
                : null;
            return {
              metadata: { annotations: annotationsFor(isvc, paused, current?.idempotencyKey ?? undefined, undefined) },
            };
          }).catch((saveErr: unknown) =>
            logger.error(
              { err: describeError(saveErr), model: t.model, environment: t.environment },
              'could not record the paused rollout',
            ),
          );
        }
        throw err;
      } finally {
        if (running.get(k) === loop) running.delete(k);
        if (!loop.stopped) watch(t);
      }
    })();
    return loop;
  }

  /** Analyses a canary held at its authorised share every watchIntervalMs; rolls it back after failuresToRollback failures in a row. */
  function watch(t: InferenceServiceTarget): void {
    const k = keyOf(t.model, t.environment);
    if (watches.has(k)) return;
    const state = { failures: 0, timer: setTimeout(tick, settings.watchIntervalMs) };
    watches.set(k, state);
    async function tick(): Promise<void> {
      try {
        const isvc = await read(t);
        const rollout = readRollout(isvc);
        const split = splitOf(t, t.environment, isvc);
        // Progressing with no loop here: its stepper stopped (a restart) or runs elsewhere; a failing canary goes back either way.
        const unfinished = rollout?.status === 'paused' || rollout?.status === 'progressing';
        if (running.has(k) || !unfinished || split.canaryVersion === null) return void unwatch(t);
        const analysis = await analyzer.analyse({
          model: t.model,
          environment: t.environment,
          canaryVersion: split.canaryVersion,
          stableVersion: split.stableVersion,
          trafficPercent: split.canaryPercent,
        });
        if (watches.get(k) !== state) return;
        state.failures =
          analysis.verdict === 'failed' ? state.failures + 1 : analysis.verdict === 'passed' ? 0 : state.failures;
        if (state.failures >= settings.failuresToRollback) {
          unwatch(t);
          await rollBack(
            t,
            'canary-watch',
            `held canary failed ${state.failures} analyses in a row at ${split.canaryPercent}%: ${failureReason(analysis)}`,
            undefined,
            analysis,
          );
          return;
        }
      } catch (err) {
        logger.warn(
          { err: describeError(err), model: t.model, environment: t.environment },
          'analysis of a held canary failed',
        );
      }
      if (watches.get(k) === state) state.timer = setTimeout(tick, settings.watchIntervalMs);
    }
  }
  function unwatch(t: InferenceServiceTarget): void {
    const k = keyOf(t.model, t.environment);
    const w = watches.get(k);
    if (w) clearTimeout(w.timer);
    watches.delete(k);
  }

  async function begin(request: CanaryRequest): Promise<{ rollout: Rollout; done: Promise<Rollout> }> {
    const { model, version, environment, targetPercent, idempotencyKey: key } = request;
    if (!Number.isInteger(targetPercent) || targetPercent < 1 || targetPercent > 100)
      throw new UserError(`targetPercent must be an integer in 1..100, got ${targetPercent}`);
    const t = requireTarget(model, environment);
    const k = keyOf(model, environment);
    const isvc = await read(t);
    if (key) {
      const known = workUnder(isvc, key);
      if (known) {
        const work = known.work;
        if (
          work.kind !== 'canary' ||
          work.model !== model ||
          work.environment !== environment ||
          work.version !== version ||
          work.targetPercent !== targetPercent
        ) {
          throw new UserError(
            `idempotency key "${key}" was already used at ${work.at} for another request (${work.kind} of ${work.model} in ${work.environment}); nothing was started`,
          );
        }
        let rollout = work.rollout ?? (await currentRollout(t))!;
        // A promotion retried (its alias may not have moved before a crash or a registry failure): move it again, idempotently.
        const stored = readRollout(isvc);
        if (rollout.status === 'promoted' && stored?.idempotencyKey === key && stored.canaryVersion === version)
          rollout = await recordPromotion(t, stored);
        // Stepped here: its loop's end; stepped by another worker: read from the cluster until it ends.
        const done =
          running.get(k)?.done ??
          (rollout.status === 'progressing'
            ? waitUntilSettled(model, environment, request.timeoutMs).then((r) => r ?? rollout)
            : Promise.resolve(rollout));
        return { rollout, done };
      }
    }
    await requirePromotable(model, version);
    /** Another version's canary, or this version already serving all traffic, is refused. */
    const refuseOver = (split: TrafficSplit) => {
      if (split.canaryVersion !== null && split.canaryVersion !== version)
        throw new UserError(
          `canary v${split.canaryVersion} of ${model} holds ${split.canaryPercent}% in ${environment}: roll it back first`,
        );
      if (split.stableVersion === version)
        throw new UserError(`${describeTarget(t)} already serves ${model} v${version} to all traffic`);
    };
    const split = splitOf(t, environment, isvc);
    const stored = readRollout(isvc);
    const loop = running.get(k);
    if (loop && stored?.canaryVersion !== version)
      throw new UserError(
        `a canary of ${model} v${stored?.canaryVersion} is stepping in ${environment}: roll it back first`,
      );
    refuseOver(split);
    if (loop) {
      loop.stopped = true;
      await loop.done?.catch(() => undefined);
    }
    unwatch(t);
    const deadline = Date.now() + request.timeoutMs;
    const record: KeyRecord | undefined = key
      ? { kind: 'canary', model, environment, version, targetPercent, at: iso() }
      : undefined;
    let rollout!: StoredRollout;
    let stepPending!: boolean;
    let continuing!: boolean;
    // Decided on the object as it is when patched: a retry after a conflict decides again.
    const patched = await commit(t, (isvc) => {
      // Another process started under this key since the first read: answer as a repeat does.
      if (key && workUnder(isvc, key)) throw new KeyTakenMeanwhile();
      const current = readRollout(isvc);
      const split = splitOf(t, environment, isvc);
      refuseOver(split);
      continuing =
        !!current &&
        (current.status === 'progressing' || current.status === 'paused') &&
        current.canaryVersion === version &&
        split.canaryVersion === version;
      if (continuing) {
        if (targetPercent < current!.canaryPercent)
          throw new UserError(
            `the canary already holds ${current!.canaryPercent}%, above the asked ${targetPercent}%; roll it back to lower it`,
          );
        rollout = {
          ...current!,
          targetPercent,
          status: 'progressing',
          reason: null,
          idempotencyKey: key ?? current!.idempotencyKey,
        };
        stepPending = false;
        return { metadata: { annotations: annotationsFor(isvc, rollout, key, record) } };
      }
      const first = Math.min(steps[0]!, targetPercent);
      rollout = {
        model,
        environment,
        stableVersion: split.stableVersion,
        canaryVersion: version,
        canaryPercent: first,
        targetPercent,
        status: 'progressing',
        analyses: [],
        reason: null,
        idempotencyKey: key ?? null,
      };
      stepPending = true;
      // One patch: the new model, its share, and the key it was asked under.
      return {
        metadata: {
          annotations: annotationsFor(isvc, rollout, key, record, {
            [ANNOTATION.stableVersion]: split.stableVersion,
            [ANNOTATION.canaryVersion]: version,
          }),
        },
        spec: { predictor: { canaryTrafficPercent: first, model: { storageUri: storageUriFor(t, version) } } },
      };
    }).catch((err: unknown) => {
      if (err instanceof KeyTakenMeanwhile) return undefined;
      throw err;
    });
    if (!patched) return begin(request);
    logger.info(
      { model, environment, version, targetPercent, key },
      continuing ? 'kserve canary continued' : 'kserve canary started',
    );
    const started = launch(t, rollout, stepPending, deadline, patched);
    return { rollout: publicRollout(rollout), done: started.done! };
  }

  // Starts under one key in flight in this process: the second is answered with the first.
  const beginOnce = oncePerKey(begin);

  async function waitUntilSettled(
    model: string,
    environment: Environment,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<Rollout | undefined> {
    const t = requireTarget(model, environment);
    const until = Date.now() + timeoutMs;
    for (;;) {
      const rollout = await currentRollout(t);
      if (rollout?.status !== 'progressing' || Date.now() >= until || signal?.aborted) return rollout;
      const done = running.get(keyOf(model, environment))?.done;
      await Promise.race([
        sleep(Math.min(settings.pollMs, until - Date.now())),
        ...(done ? [done.catch(() => undefined)] : []),
      ]);
    }
  }

  /** What a process that stopped left unfinished on the cluster, picked up at open. */
  async function resume(): Promise<void> {
    for (const t of settings.inferenceServices) {
      if (closed) return;
      try {
        const isvc = await api.get(t.namespace, nameOf(t));
        const rollout = isvc ? readRollout(isvc) : undefined;
        if (!isvc || !rollout || closed) continue;
        const unfinished = rollout.status === 'paused' || rollout.status === 'progressing';
        if (
          unfinished &&
          splitOf(t, t.environment, isvc).canaryVersion !== null &&
          !running.has(keyOf(t.model, t.environment))
        ) {
          logger.info(
            {
              model: t.model,
              environment: t.environment,
              status: rollout.status,
              canaryVersion: rollout.canaryVersion,
            },
            'a kserve canary left holding traffic is watched again',
          );
          watch(t);
        } else if (
          rollout.status === 'promoted' &&
          rollout.canaryVersion &&
          rollout.reason !== promotedReason(rollout.canaryVersion)
        ) {
          await recordPromotion(t, rollout);
        }
      } catch (err) {
        logger.warn(
          { err: describeError(err), model: t.model, environment: t.environment },
          'could not read a rollout left by an earlier process',
        );
      }
    }
  }
  let closed = false;
  const resumed = resume();

  return {
    settings,
    resumed,
    async getSplit(model, environment) {
      const t = targetFor(model, environment);
      if (!t) return undefined;
      const isvc = await api.get(t.namespace, nameOf(t));
      return isvc ? splitOf(t, environment, isvc) : undefined;
    },
    deployCanary: async (request) => (await beginOnce(request)).done,
    async startCanary(request) {
      const { rollout, done } = await beginOnce(request);
      done.catch((err: unknown) =>
        logger.warn(
          { err: describeError(err), model: request.model, environment: request.environment },
          'a kserve canary started without waiting stopped on an error',
        ),
      );
      return rollout;
    },
    async rollout(model, environment) {
      const t = targetFor(model, environment);
      if (!t) return undefined;
      const isvc = await api.get(t.namespace, nameOf(t));
      const rollout = isvc ? readRollout(isvc) : undefined;
      return rollout ? publicRollout(rollout) : undefined;
    },
    waitForRollout: (model, environment, { timeoutMs, signal }) =>
      waitUntilSettled(model, environment, timeoutMs, signal),
    async rollback(request) {
      const { model, environment, reason, requestedBy, idempotencyKey: key } = request;
      const t = requireTarget(model, environment);
      const isvc = await read(t);
      const known = key ? readKeys(isvc)[key] : undefined;
      if (known) {
        if (known.kind !== 'rollback' || known.model !== model || known.environment !== environment) {
          throw new UserError(
            `idempotency key "${key}" was already used at ${known.at} for another request (${known.kind} of ${known.model} in ${known.environment}); nothing was rolled back`,
          );
        }
        return known.split;
      }
      const k = keyOf(model, environment);
      const loop = running.get(k);
      if (loop) loop.stopped = true;
      running.delete(k);
      unwatch(t);
      const split = splitOf(t, environment, isvc);
      const stepping = readRollout(isvc)?.status === 'progressing';
      if (
        !loop &&
        !stepping &&
        split.canaryVersion === null &&
        isvc.metadata.annotations?.[ANNOTATION.canaryVersion] === undefined
      ) {
        // Nothing to move; under a key, the call is still recorded, so a repeat or a lookup finds it done.
        if (key) {
          const record: KeyRecord = { kind: 'rollback', model, environment, at: iso(), split };
          await commit(t, (current) => ({ metadata: { annotations: annotationsFor(current, null, key, record) } }));
        }
        return split;
      }
      return (await rollBack(t, requestedBy, reason, key)).split;
    },
    // KServe's InferenceService splits traffic but mirrors none: a shadow is refused, never faked.
    startShadow: async () => refuseShadow(),
    endShadow: async () => refuseShadow(),
    shadows: async () => [],
    async lookup(key) {
      for (const t of settings.inferenceServices) {
        const isvc = await api.get(t.namespace, nameOf(t));
        const found = isvc ? workUnder(isvc, key) : undefined;
        if (found) return found;
      }
      return { state: 'not_started' };
    },
    async close() {
      // Not awaiting `resumed`: a cluster that does not answer must not hold the shutdown; resume starts no watch once closed.
      closed = true;
      const loops = [...running.values()];
      for (const loop of loops) loop.stopped = true;
      for (const t of settings.inferenceServices) unwatch(t);
      await Promise.all(loops.map((loop) => loop.done?.catch(() => undefined)));
    },
  };
}
