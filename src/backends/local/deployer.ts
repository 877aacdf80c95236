// The lab's Deployer: serves a version, walks a canary up through traffic steps with an
// analysis between steps, rolls back on a failed analysis or on request, and promotes at
// 100%. A canary held between steps stays under watch (canary-watch.ts). The analysis is
// the lab's own (canary-analysis.ts) unless a CanaryAnalyzer (Prometheus) is passed in.
// Shadows mirror a share of the stable version's requests to candidates
// (shadow-deployments.ts). The split and the shadows live in memory (the router reads them
// on every request) and on disk.
import type { Clock } from '../../clock.js';
import { UpstreamError, UserError, describeError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import type {
  CanaryAnalysis,
  CanaryRequest,
  Deployer,
  Environment,
  Rollout,
  TrafficSplit,
} from '../../../tools/ports.js';
import { createFileExclusive } from '../../durable-file.js';
import { ownerGone, PROCESS_TOKEN } from '../../process-identity.js';
import { analyseCanary, lackedTraffic, validateThresholds, type CanaryThresholds } from './canary-analysis.js';
import {
  createCanaryWatch,
  DEFAULT_FAILURES_TO_ROLLBACK,
  DEFAULT_WATCH_INTERVAL_MS,
  holdsTraffic,
  systemTimers,
  validateFailuresToRollback,
  validateWatchInterval,
  type Timers,
} from './canary-watch.js';
import {
  createDeploymentStore,
  type DeploymentEntry,
  type DeploymentState,
  type HistoryRecord,
  type KeyRecord,
} from './deployment-store.js';
import { lookupKey, rememberKey } from './deployment-keys.js';
import { oncePerKey } from '../once-per-key.js';
import { checksBehind, failureReason, type CanaryAnalyzer } from '../canary-analyzer.js';
import type { ServingStats } from './serving-stats.js';
import type { SplitSource } from './traffic-router.js';
import { createShadowDeployments } from './shadow-deployments.js';

/** What the deployer needs from the registry; the lab's LocalRegistry provides it. */
export interface PromotionStore {
  getVersion(model: string, version: string): Promise<{ promotable: boolean } | undefined>;
  setAlias(model: string, alias: string, version: string | null, by: string, reason: string): Promise<unknown>;
  /** When given, a version is served only once its model loads: one the model server cannot load is refused up front. */
  loadArtifact?(model: string, version: string): Promise<unknown>;
}

export interface LocalDeployer extends Deployer, Required<SplitSource> {
  /** Initial deployment: all traffic to `version`, which becomes the last known-good. */
  serve(model: string, environment: Environment, version: string, by?: string): Promise<TrafficSplit>;
  getRollout(model: string, environment: Environment): Rollout | undefined;
  history(): Promise<HistoryRecord[]>;
  /** The held canaries being analysed at every watch interval. */
  watching(): { model: string; environment: Environment }[];
  /**
   * Stops watching held canaries and stops the stepping loops under way: nothing awaits
   * them now that a run parks while its canary steps, and one left running would keep the
   * process alive and write on beside the next. Their rollouts stay as last committed; the
   * next start pauses them as interrupted.
   */
  close(): Promise<void>;
}

export const DEFAULT_STEPS = [1, 5, 25, 100];

export interface LocalDeployerOptions {
  dir: string;
  artifacts: PromotionStore;
  stats: ServingStats;
  clock: Clock;
  logger: Logger;
  steps?: number[];
  analysis: CanaryThresholds;
  /** How often a waiting step looks at the stats (default 50 ms). */
  pollMs?: number;
  /** The alias a promotion moves, per environment (default: champion in production only). */
  promoteAlias?: Partial<Record<Environment, string | null>>;
  /** How often a held canary is analysed (default 60 s). */
  watchIntervalMs?: number;
  /** Failed analyses in a row that roll a held canary back (default 2); a failed step rolls back at once. */
  failuresToRollback?: number;
  timers?: Timers;
  /**
   * Judges each step and a held canary instead of the lab's own analysis (the Prometheus
   * analyzer under `backends.analysis: prometheus`). A step still waits for
   * `analysis.minRequestsPerStep` canary requests first, so what it measures has traffic in it.
   */
  analyzer?: CanaryAnalyzer;
}

/** A step's analysis and what it means: `inconclusive` (too little traffic, no data) pauses, never passes. */
interface StepJudgement {
  analysis: CanaryAnalysis;
  verdict: 'passed' | 'failed' | 'inconclusive';
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const keyOf = (model: string, environment: Environment) => `${model}\u0000${environment}`;

/**
 * The loop stepping one model/environment: rollback flips `stopped` and aborts `abort`
 * (an analyzer measuring for minutes stops at once); `done` settles when it ends.
 */
interface RunningLoop {
  stopped: boolean;
  abort: AbortController;
  done: Promise<Rollout> | null;
}

function stopLoop(loop: RunningLoop): void {
  loop.stopped = true;
  loop.abort.abort();
}

export async function createLocalDeployer(options: LocalDeployerOptions): Promise<LocalDeployer> {
  const { artifacts, stats, clock, logger } = options;
  const steps = [...(options.steps ?? DEFAULT_STEPS)].sort((a, b) => a - b);
  if (steps.length === 0 || steps.some((s) => !Number.isInteger(s) || s < 1 || s > 100)) {
    throw new UserError(`deployer steps must be integers in 1..100, got [${steps.join(', ')}]`, {
      code: 'config_invalid',
    });
  }
  const problems = validateThresholds(options.analysis);
  if (problems.length > 0)
    throw new UserError(`canary analysis config: ${problems.join('; ')}`, { code: 'config_invalid' });
  const watchIntervalMs = options.watchIntervalMs ?? DEFAULT_WATCH_INTERVAL_MS;
  const badInterval = validateWatchInterval(watchIntervalMs);
  if (badInterval) throw new UserError(badInterval, { code: 'config_invalid' });
  const failuresToRollback = options.failuresToRollback ?? DEFAULT_FAILURES_TO_ROLLBACK;
  const badFailures = validateFailuresToRollback(failuresToRollback);
  if (badFailures) throw new UserError(badFailures, { code: 'config_invalid' });
  const pollMs = options.pollMs ?? 50;
  const promoteAlias = { production: 'champion', staging: null, ...options.promoteAlias };
  const store = createDeploymentStore(options.dir);
  const state: DeploymentState = await store.load();
  // A rollout that was stepping when its process died was acknowledged to whoever started
  // it: it is continued here (below), by the first process to claim it, until its deadline.
  // One whose process is alive, or of an older build, or past its deadline, keeps its split
  // and waits to be continued by hand.
  const orphans: string[] = [];
  for (const [key, entry] of Object.entries(state.entries)) {
    if (entry.rollout?.status !== 'progressing') continue;
    const stepping = state.stepping?.[key];
    const orphaned =
      stepping !== undefined &&
      ownerGone({ pid: stepping.ownerPid, token: stepping.ownerToken }) &&
      stepping.deadline > clock.now();
    if (
      orphaned &&
      (await createFileExclusive(
        join(
          options.dir,
          'claims',
          `${createHash('sha256').update(key).digest('hex').slice(0, 16)}.${stepping.ownerPid}.${stepping.ownerToken ?? 'none'}`,
        ),
        String(process.pid),
      ))
    ) {
      orphans.push(key);
      continue;
    }
    entry.rollout = {
      ...entry.rollout,
      status: 'paused',
      reason: 'interrupted by a restart; call deployCanary again to continue',
    };
  }
  /** The loop currently driving each model/environment; rollback flips `stopped`. */
  const running = new Map<string, RunningLoop>();
  const iso = () => new Date(clock.now()).toISOString();
  const watch = createCanaryWatch({
    deployments: {
      entry: (model, environment) => state.entries[keyOf(model, environment)],
      driven: (model, environment) => running.has(keyOf(model, environment)),
      commit,
      rollBackTo,
    },
    stats,
    thresholds: options.analysis,
    intervalMs: watchIntervalMs,
    failuresToRollback,
    clock,
    timers: options.timers ?? systemTimers,
    logger,
    ...(options.analyzer ? { analyzer: options.analyzer } : {}),
  });
  // Held canaries of the previous process (paused, or stepping when it stopped) are watched again.
  for (const entry of Object.values(state.entries))
    if (holdsTraffic(entry)) watch.watch(entry.split.model, entry.split.environment);

  const entryFor = (model: string, environment: Environment): DeploymentEntry => {
    const entry = state.entries[keyOf(model, environment)];
    if (!entry)
      throw new UserError(`model "${model}" is not served in ${environment}: serve a version first`, {
        code: 'not_found',
      });
    return entry;
  };

  async function commit(
    model: string,
    environment: Environment,
    entry: DeploymentEntry,
    record: Omit<HistoryRecord, 'at' | 'model' | 'environment' | 'split'>,
  ): Promise<void> {
    state.entries[keyOf(model, environment)] = entry;
    logger.info(
      { model, environment, action: record.action, split: entry.split, reason: record.reason },
      'deployment move',
    );
    // One fsync'd state with the move in it, then the history line: a crash between them loses no move.
    await store.commit(state, { at: iso(), model, environment, split: entry.split, ...record });
  }

  async function requirePromotable(model: string, version: string): Promise<void> {
    let meta: { promotable: boolean } | undefined;
    try {
      meta = await artifacts.getVersion(model, version);
    } catch (err) {
      throw new UpstreamError('registry', `could not read ${model} v${version}: ${describeError(err)}`, {
        retryable: true,
        cause: err,
      });
    }
    if (!meta) throw new UserError(`model "${model}" has no version "${version}"`, { code: 'not_found' });
    if (!meta.promotable)
      throw new UserError(
        `${model} v${version} failed its quality gates and can never be promoted; train a better version`,
      );
    // A version whose model the lab cannot load (e.g. an MLflow version kept outside the lab) would fail every request.
    await artifacts.loadArtifact?.(model, version);
  }

  /** Remembers what was done under `key`, in the state the next commit writes (one fsync'd file with the split). */
  const remember = (key: string, record: KeyRecord) => rememberKey(state, key, record, clock.now());

  const shadows = createShadowDeployments({
    state,
    stats,
    thresholds: options.analysis,
    clock,
    entryFor,
    requirePromotable,
    remember,
    save: () => store.save(state),
    commit,
  });

  async function rollBackTo(
    model: string,
    environment: Environment,
    entry: DeploymentEntry,
    by: string,
    reason: string,
    analysis?: CanaryAnalysis,
    idempotencyKey?: string,
  ): Promise<DeploymentEntry> {
    shadows.endBecauseStable(
      model,
      environment,
      entry.split.lastKnownGoodVersion,
      `a rollback made v${entry.split.lastKnownGoodVersion} the stable version`,
    );
    const next: DeploymentEntry = {
      split: { ...entry.split, stableVersion: entry.split.lastKnownGoodVersion, canaryVersion: null, canaryPercent: 0 },
      rollout:
        entry.rollout && (entry.rollout.status === 'progressing' || entry.rollout.status === 'paused')
          ? { ...entry.rollout, canaryPercent: 0, status: 'rolled_back', reason }
          : entry.rollout,
      stepStartedAt: null,
      stepPending: false,
    };
    if (idempotencyKey)
      remember(idempotencyKey, { kind: 'rollback', model, environment, at: iso(), split: next.split });
    await commit(model, environment, next, { action: 'rollback', by, reason, analysis });
    return next;
  }

  /** Waits for the step's traffic, then analyses it. Undefined when a rollback stopped the loop. */
  async function runStep(
    model: string,
    environment: Environment,
    token: RunningLoop,
    deadline: number,
  ): Promise<StepJudgement | 'timeout' | undefined> {
    const waitStarted = clock.now();
    for (;;) {
      if (token.stopped) return undefined;
      const entry = entryFor(model, environment);
      const since = entry.stepStartedAt ?? waitStarted;
      const canary = stats.window(model, environment, entry.split.canaryVersion!, since);
      const stepTimedOut = clock.now() - waitStarted >= options.analysis.stepTimeoutMs;
      if (canary.requests >= options.analysis.minRequestsPerStep || stepTimedOut) {
        if (options.analyzer) {
          // Asked even after a timeout with thin traffic: with no data it answers inconclusive, which pauses.
          const outcome = await options.analyzer.analyse(
            {
              model,
              environment,
              canaryVersion: entry.split.canaryVersion!,
              stableVersion: entry.split.stableVersion,
              trafficPercent: entry.split.canaryPercent,
            },
            { signal: token.abort.signal },
          );
          return { analysis: outcome, verdict: outcome.verdict };
        }
        const stable = stats.window(model, environment, entry.split.stableVersion, since);
        const analysis = analyseCanary({
          canary,
          stable,
          thresholds: options.analysis,
          trafficPercent: entry.split.canaryPercent,
          at: iso(),
        });
        return {
          analysis,
          verdict: analysis.passed ? 'passed' : lackedTraffic(analysis) ? 'inconclusive' : 'failed',
        };
      }
      if (clock.now() >= deadline) return 'timeout';
      await sleep(pollMs);
    }
  }

  async function pause(
    model: string,
    environment: Environment,
    by: string,
    reason: string,
    analysis?: CanaryAnalysis,
  ): Promise<Rollout> {
    const entry = entryFor(model, environment);
    const next = { ...entry, rollout: { ...entry.rollout!, status: 'paused' as const, reason } };
    await commit(model, environment, next, { action: 'pause', by, reason, analysis });
    return next.rollout;
  }

  async function drive(
    model: string,
    environment: Environment,
    by: string,
    token: RunningLoop,
    deadline: number,
  ): Promise<Rollout> {
    for (;;) {
      // A rollback may have landed during any await below; it owns the state from then on.
      if (token.stopped) return entryFor(model, environment).rollout!;
      let entry = entryFor(model, environment);
      const rollout = entry.rollout!;
      if (entry.stepPending) {
        const judged = await runStep(model, environment, token, deadline);
        if (judged === undefined || token.stopped) return entryFor(model, environment).rollout!;
        if (judged === 'timeout')
          return pause(
            model,
            environment,
            by,
            `timed out waiting for canary traffic at ${rollout.canaryPercent}%; call deployCanary again to continue`,
          );
        // A step's analysis ends the tail of watch analyses that withWatchAnalysis trims.
        entry = { ...entryFor(model, environment), watchedAnalyses: 0 };
        const result = judged.analysis;
        const withAnalysis = { ...entry.rollout!, analyses: [...entry.rollout!.analyses, result] };
        if (judged.verdict === 'inconclusive') {
          state.entries[keyOf(model, environment)] = { ...entry, rollout: withAnalysis };
          const lacking = checksBehind({ ...result, verdict: judged.verdict }).unmeasured;
          return pause(
            model,
            environment,
            by,
            options.analyzer
              ? `canary analysis inconclusive at ${rollout.canaryPercent}% (no data for ${lacking.join(', ')}); call deployCanary again to continue`
              : `canary got too little traffic at ${rollout.canaryPercent}% within ${options.analysis.stepTimeoutMs} ms; call deployCanary again to continue`,
            result,
          );
        }
        if (judged.verdict === 'failed') {
          const reason = `canary analysis failed at ${rollout.canaryPercent}%: ${failureReason(result)}`;
          return (
            await rollBackTo(model, environment, { ...entry, rollout: withAnalysis }, 'canary-analysis', reason, result)
          ).rollout!;
        }
        entry = { ...entry, rollout: withAnalysis, stepPending: false };
        await commit(model, environment, entry, {
          action: 'analysis',
          by,
          reason: `analysis passed at ${rollout.canaryPercent}%`,
          analysis: result,
        });
        if (token.stopped) return entryFor(model, environment).rollout!;
      }
      const current = entry.rollout!;
      if (current.canaryPercent >= current.targetPercent) {
        return pause(
          model,
          environment,
          by,
          `reached the authorised ${current.targetPercent}%; call deployCanary with a higher target to continue`,
        );
      }
      const nextPercent = Math.min(steps.find((s) => s > current.canaryPercent) ?? 100, current.targetPercent);
      if (nextPercent === 100) return promote(model, environment, entry, by, token);
      const next: DeploymentEntry = {
        split: { ...entry.split, canaryPercent: nextPercent },
        rollout: { ...current, canaryPercent: nextPercent, status: 'progressing', reason: null },
        stepStartedAt: clock.now(),
        stepPending: true,
      };
      await commit(model, environment, next, {
        action: 'canary_step',
        by,
        reason: `canary ${current.canaryVersion} to ${nextPercent}%`,
      });
    }
  }

  async function promote(
    model: string,
    environment: Environment,
    entry: DeploymentEntry,
    by: string,
    token: RunningLoop,
  ): Promise<Rollout> {
    const version = entry.rollout!.canaryVersion!;
    const reason = `canary ${version} passed every step and was promoted`;
    const alias = promoteAlias[environment];
    if (alias) {
      await artifacts.setAlias(model, alias, version, by, reason);
      if (token.stopped) {
        // Rolled back while the alias moved: point it back so registry and traffic agree.
        await artifacts.setAlias(
          model,
          alias,
          entry.split.lastKnownGoodVersion,
          'rollback',
          'rolled back during promotion',
        );
        return entryFor(model, environment).rollout!;
      }
    }
    shadows.endBecauseStable(model, environment, version, `v${version} was promoted and now serves as stable`);
    const next: DeploymentEntry = {
      split: {
        ...entry.split,
        stableVersion: version,
        canaryVersion: null,
        canaryPercent: 0,
        lastKnownGoodVersion: version,
      },
      rollout: { ...entry.rollout!, canaryPercent: 100, status: 'promoted', reason },
      stepStartedAt: null,
      stepPending: false,
    };
    await commit(model, environment, next, { action: 'promote', by, reason });
    return next.rollout!;
  }

  /**
   * Checks a canary request and sets its stepping loop going; `done` settles when the loop
   * ends. deployCanary waits for it, startCanary does not.
   */
  async function begin(request: CanaryRequest): Promise<{ rollout: Rollout; done: Promise<Rollout> }> {
    const { model, version, environment, targetPercent, requestedBy, idempotencyKey } = request;
    if (!Number.isInteger(targetPercent) || targetPercent < 1 || targetPercent > 100) {
      throw new UserError(`targetPercent must be an integer from 1 to 100, got ${targetPercent}`);
    }
    if (!(request.timeoutMs > 0)) throw new UserError(`timeoutMs must be a positive number, got ${request.timeoutMs}`);
    const key = keyOf(model, environment);
    const known = idempotencyKey ? state.keys?.[idempotencyKey] : undefined;
    if (known) {
      // Started before under this key (a call retried after its worker died): that rollout is the answer.
      if (
        known.kind !== 'canary' ||
        known.model !== model ||
        known.environment !== environment ||
        known.version !== version ||
        known.targetPercent !== targetPercent
      ) {
        throw new UserError(
          `idempotency key "${idempotencyKey}" was already used at ${known.at} for another request (${known.kind} of ${known.model} in ${known.environment}); nothing was started`,
        );
      }
      const current = entryFor(model, environment).rollout!;
      return { rollout: current, done: running.get(key)?.done ?? Promise.resolve(current) };
    }
    if (running.has(key))
      throw new UserError(`a canary of ${model} is already stepping in ${environment}; wait for it or roll it back`);
    entryFor(model, environment);
    await requirePromotable(model, version);
    // Read after the await: a rollback, by hand or by the watch, may have landed meanwhile.
    const entry = entryFor(model, environment);
    const active =
      entry.rollout && (entry.rollout.status === 'progressing' || entry.rollout.status === 'paused')
        ? entry.rollout
        : null;
    if (active && active.canaryVersion !== version) {
      throw new UserError(
        `${model} v${active.canaryVersion} is mid-rollout at ${active.canaryPercent}% in ${environment}; roll it back before canarying v${version}`,
      );
    }
    if (!active && entry.split.stableVersion === version)
      throw new UserError(`${model} v${version} already serves all traffic in ${environment}`);
    if (active && targetPercent < active.canaryPercent) {
      throw new UserError(
        `the canary already has ${active.canaryPercent}% of traffic; a lower target of ${targetPercent}% needs a rollback`,
      );
    }
    if (running.has(key)) throw new UserError(`a canary of ${model} is already stepping in ${environment}`);
    const token: RunningLoop = { stopped: false, abort: new AbortController(), done: null };
    running.set(key, token);
    // The loop analyses its own steps; the watch resumes if it leaves the canary held.
    watch.unwatch(model, environment);
    const rollout: Rollout = active
      ? { ...active, targetPercent, status: 'progressing', reason: null }
      : {
          model,
          environment,
          stableVersion: entry.split.stableVersion,
          canaryVersion: version,
          canaryPercent: 0,
          targetPercent,
          status: 'progressing',
          analyses: [],
          reason: null,
        };
    const deadline = clock.now() + request.timeoutMs;
    state.entries[key] = { ...entry, split: { ...entry.split, canaryVersion: version }, rollout };
    state.stepping = {
      ...state.stepping,
      [key]: {
        ownerPid: process.pid,
        ownerToken: PROCESS_TOKEN,
        deadline,
        requestedBy,
        idempotencyKey: idempotencyKey ?? null,
      },
    };
    if (idempotencyKey)
      remember(idempotencyKey, { kind: 'canary', model, environment, version, targetPercent, at: iso() });
    try {
      // Durable before it is acknowledged: a process that dies from here on leaves a rollout (and its key) the next one continues.
      await store.save(state);
    } catch (err) {
      if (running.get(key) === token) running.delete(key);
      throw err;
    }
    launch(model, environment, requestedBy, token, deadline);
    // drive ran up to its first wait: this is the rollout at its first step.
    return { rollout: state.entries[key]?.rollout ?? rollout, done: token.done! };
  }

  // Starts under one key in flight in this process: the second is answered with the first.
  const beginOnce = oncePerKey(begin);

  /** Sets the stepping loop of `token` going; `token.done` settles when it ends. */
  function launch(model: string, environment: Environment, by: string, token: RunningLoop, deadline: number): void {
    const key = keyOf(model, environment);
    token.done = (async () => {
      try {
        return await drive(model, environment, by, token, deadline);
      } catch (err) {
        await halted(model, environment, err);
        throw err;
      } finally {
        if (running.get(key) === token) running.delete(key);
        if (!running.has(key) && holdsTraffic(state.entries[key])) watch.watch(model, environment);
      }
    })();
  }

  /** A stepping loop that died on an error leaves its rollout paused, not `progressing` for ever. */
  async function halted(model: string, environment: Environment, err: unknown): Promise<void> {
    const entry = state.entries[keyOf(model, environment)];
    if (entry?.rollout?.status !== 'progressing') return;
    const reason = `stepping stopped on an error: ${describeError(err)}; call deployCanary again to continue`;
    state.entries[keyOf(model, environment)] = { ...entry, rollout: { ...entry.rollout, status: 'paused', reason } };
    await store
      .save(state)
      .catch((saveErr: unknown) =>
        logger.error({ err: saveErr, model, environment }, 'could not persist the paused rollout'),
      );
  }

  // Rollouts a dead process was stepping go on here, where they stood, until their deadline.
  for (const key of orphans) {
    const entry = state.entries[key]!;
    const stepping = state.stepping![key]!;
    const { model, environment } = entry.split;
    const token: RunningLoop = { stopped: false, abort: new AbortController(), done: null };
    running.set(key, token);
    watch.unwatch(model, environment);
    state.stepping = { ...state.stepping, [key]: { ...stepping, ownerPid: process.pid, ownerToken: PROCESS_TOKEN } };
    await store.save(state);
    logger.warn(
      {
        model,
        environment,
        deadOwner: stepping.ownerPid,
        canary: entry.rollout?.canaryVersion,
        percent: entry.rollout?.canaryPercent,
      },
      'continuing a canary whose process died while it stepped',
    );
    launch(model, environment, stepping.requestedBy, token, stepping.deadline);
    // Nobody here awaits it: its end is read with rollout() or waitForRollout().
    token.done!.catch((err: unknown) =>
      logger.warn({ err, model, environment }, 'a continued canary stopped on an error'),
    );
  }

  return {
    currentSplit: (model, environment) => state.entries[keyOf(model, environment)]?.split,
    currentShadows: (model, environment) => shadows.running(model, environment),
    getRollout: (model, environment) => state.entries[keyOf(model, environment)]?.rollout ?? undefined,
    getSplit: async (model, environment) => state.entries[keyOf(model, environment)]?.split,
    history: () => store.readHistory(),

    watching: () => watch.watching(),

    async serve(model, environment, version, by = 'operator') {
      if (running.has(keyOf(model, environment)))
        throw new UserError(`a canary of ${model} is running in ${environment}: roll it back first`);
      await requirePromotable(model, version);
      watch.unwatch(model, environment);
      shadows.endBecauseStable(model, environment, version, `v${version} was served as the stable version`);
      const split: TrafficSplit = {
        model,
        environment,
        stableVersion: version,
        canaryVersion: null,
        canaryPercent: 0,
        lastKnownGoodVersion: version,
      };
      await commit(
        model,
        environment,
        { split, rollout: null, stepStartedAt: null, stepPending: false },
        { action: 'serve', by, reason: `serve ${model} v${version}` },
      );
      return split;
    },

    deployCanary: async (request) => (await beginOnce(request)).done,

    async startCanary(request) {
      const { rollout, done } = await beginOnce(request);
      // Nobody awaits the stepping here: its end is read with rollout() or waitForRollout().
      done.catch((err: unknown) =>
        logger.warn(
          { err, model: request.model, environment: request.environment },
          'a canary started without waiting stopped on an error',
        ),
      );
      return rollout;
    },

    rollout: async (model, environment) => state.entries[keyOf(model, environment)]?.rollout ?? undefined,

    lookup: async (idempotencyKey) => lookupKey(state, idempotencyKey, shadows.find),

    startShadow: (request) => shadows.start(request),
    endShadow: (request) => shadows.end(request),
    shadows: async (model, environment) => shadows.list(model, environment),

    async waitForRollout(model, environment, { timeoutMs, signal }) {
      const current = () => state.entries[keyOf(model, environment)]?.rollout ?? undefined;
      const until = Date.now() + timeoutMs;
      while (current()?.status === 'progressing' && Date.now() < until && !signal?.aborted) {
        // The loop stepping it here signals its end; without one (a moment between a rollback and its commit), look again shortly.
        const done = running.get(keyOf(model, environment))?.done;
        let wake = () => {};
        const pause = new Promise<void>((resolve) => (wake = resolve));
        const timer = setTimeout(wake, done ? until - Date.now() : Math.min(pollMs, until - Date.now()));
        signal?.addEventListener('abort', wake, { once: true });
        try {
          await Promise.race([pause, ...(done ? [done.catch(() => undefined)] : [])]);
        } finally {
          clearTimeout(timer);
          signal?.removeEventListener('abort', wake);
        }
      }
      return current();
    },

    async rollback(request) {
      const { model, environment, reason, requestedBy, idempotencyKey } = request;
      const key = keyOf(model, environment);
      const known = idempotencyKey ? state.keys?.[idempotencyKey] : undefined;
      if (known) {
        // Done before under this key: what it left is the answer, and nothing is rolled back twice.
        if (known.kind !== 'rollback' || known.model !== model || known.environment !== environment) {
          throw new UserError(
            `idempotency key "${idempotencyKey}" was already used at ${known.at} for another request (${known.kind} of ${known.model} in ${known.environment}); nothing was rolled back`,
          );
        }
        return known.split;
      }
      const entry = entryFor(model, environment);
      // Nothing to roll back (no canary, the last known good serves all): no move, no history line.
      if (
        !running.has(key) &&
        entry.split.canaryVersion === null &&
        entry.split.stableVersion === entry.split.lastKnownGoodVersion
      )
        return entry.split;
      // Stop the stepping loop first: it checks this flag after every wait.
      const token = running.get(key);
      if (token) stopLoop(token);
      running.delete(key);
      watch.unwatch(model, environment);
      return (await rollBackTo(model, environment, entry, requestedBy, reason, undefined, idempotencyKey)).split;
    },

    async close() {
      const loops = [...running.values()];
      for (const loop of loops) stopLoop(loop);
      await Promise.all(loops.map((loop) => loop.done?.catch(() => undefined)));
      await watch.close();
    },
  };
}
