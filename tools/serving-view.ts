// The serving view: what serves a model in an environment, as a careful engineer looks at it
// before acting. One function builds it for the deployment_status tool, the MCP resource
// (through that tool and the gate) and `mlops-agent runs show`.
import { z } from 'zod';
import { ENVIRONMENTS, type Backends, type Environment } from './ports.js';
import { environmentSchema, rolloutStatusSchema, shadowSchema } from './schemas.js';
import { describeShadow } from './shadow-words.js';
import { requireModel } from './lookups.js';

/** How many of the latest canary analyses the view keeps. */
export const VIEW_ANALYSES = 3;

const rolloutStatus = rolloutStatusSchema;

export const servingViewSchema = z.object({
  model: z.string(),
  environment: environmentSchema,
  /** False when no version of the model takes traffic in this environment. */
  served: z.boolean(),
  traffic: z.array(z.object({ version: z.string(), percent: z.number(), role: z.enum(['stable', 'canary']) })),
  stableVersion: z.string().nullable(),
  canary: z
    .object({
      version: z.string(),
      /** The share it has now: the step it is at. */
      percent: z.number(),
      /** The highest share it is authorised to reach; null when the deployer keeps no rollout for it. */
      targetPercent: z.number().nullable(),
      state: rolloutStatus.nullable(),
      reason: z.string().nullable(),
    })
    .nullable(),
  /** The latest rollout when it has ended (promoted, rolled back) or is of another version than the canary. */
  lastRollout: z
    .object({
      version: z.string().nullable(),
      targetPercent: z.number(),
      state: rolloutStatus,
      reason: z.string().nullable(),
    })
    .nullable(),
  /** The latest analyses of the latest rollout, oldest first, with the checks that failed. */
  latestAnalyses: z.array(
    z.object({
      at: z.string(),
      trafficPercent: z.number(),
      passed: z.boolean(),
      failedChecks: z.array(
        z.object({
          check: z.string(),
          canary: z.number(),
          stable: z.number(),
          threshold: z.number(),
          bound: z.number().nullable(),
        }),
      ),
    }),
  ),
  /** The version a rollback returns to. */
  lastKnownGoodVersion: z.string().nullable(),
  /** Shadows (candidates scoring copies of the stable version's requests, answering nobody): running ones, then the latest ended, each with its analysis against stable. */
  shadows: z.array(shadowSchema),
  /** Calls waiting for people that name this model here; null when this process keeps no approvals. */
  pendingApprovals: z
    .array(
      z.object({
        approvalId: z.string(),
        tool: z.string(),
        args: z.record(z.unknown()),
        ruleId: z.string().nullable(),
        reason: z.string(),
        requestedBy: z.string(),
        runId: z.string().nullable(),
        expiresAt: z.string(),
      }),
    )
    .nullable(),
});

export type ServingView = z.infer<typeof servingViewSchema>;

/**
 * The view of `model` in `environment`, or in every environment when none is given.
 * Throws NotFoundError when the registry does not know the model.
 */
export async function buildServingViews(
  backends: Backends,
  model: string,
  environment?: Environment,
): Promise<ServingView[]> {
  await requireModel(backends.registry, model);
  const environments = environment ? [environment] : ENVIRONMENTS;
  return Promise.all(environments.map((env) => viewOf(backends, model, env)));
}

async function viewOf(backends: Backends, model: string, environment: Environment): Promise<ServingView> {
  const [split, rollout, shadows, pending] = await Promise.all([
    backends.deployer.getSplit(model, environment),
    backends.deployer.rollout(model, environment),
    backends.deployer.shadows(model, environment),
    backends.approvals ? backends.approvals.touching(model, environment) : Promise.resolve(null),
  ]);
  const canaryRollout =
    split?.canaryVersion &&
    rollout?.canaryVersion === split.canaryVersion &&
    (rollout.status === 'progressing' || rollout.status === 'paused')
      ? rollout
      : null;
  const latestAnalyses = (rollout?.analyses ?? []).slice(-VIEW_ANALYSES).map((a) => ({
    at: a.at,
    trafficPercent: a.trafficPercent,
    passed: a.passed,
    failedChecks: a.checks
      .filter((c) => !c.passed)
      .map((c) => ({
        check: c.check,
        canary: c.canary,
        stable: c.stable,
        threshold: c.threshold,
        bound: c.bound ?? null,
      })),
  }));
  const traffic: ServingView['traffic'] = [];
  if (split) {
    traffic.push({ version: split.stableVersion, percent: 100 - split.canaryPercent, role: 'stable' });
    if (split.canaryVersion && split.canaryPercent > 0)
      traffic.push({ version: split.canaryVersion, percent: split.canaryPercent, role: 'canary' });
  }
  return {
    model,
    environment,
    served: Boolean(split),
    traffic,
    stableVersion: split?.stableVersion ?? null,
    canary: split?.canaryVersion
      ? {
          version: split.canaryVersion,
          percent: split.canaryPercent,
          targetPercent: canaryRollout?.targetPercent ?? null,
          state: canaryRollout?.status ?? null,
          reason: canaryRollout?.reason ?? null,
        }
      : null,
    lastRollout:
      rollout && rollout !== canaryRollout
        ? {
            version: rollout.canaryVersion,
            targetPercent: rollout.targetPercent,
            state: rollout.status,
            reason: rollout.reason,
          }
        : null,
    latestAnalyses,
    lastKnownGoodVersion: split?.lastKnownGoodVersion || null,
    shadows,
    pendingApprovals: pending,
  };
}

/** One line an operator reads: the split, the canary, the last analysis, last known good, approvals. */
export function describeServingView(view: ServingView): string {
  const where = `${view.model}/${view.environment}`;
  if (!view.served)
    return `${where}: not served${view.lastRollout ? `; last rollout v${view.lastRollout.version ?? '-'} ${view.lastRollout.state}` : ''}`;
  const parts = [view.traffic.map((t) => `${t.role} v${t.version} ${t.percent}%`).join(', ')];
  if (view.canary) {
    const target = view.canary.targetPercent === null ? '' : ` of target ${view.canary.targetPercent}%`;
    parts.push(
      `canary v${view.canary.version} at ${view.canary.percent}%${target}${view.canary.state ? `, ${view.canary.state}` : ''}`,
    );
  } else if (view.lastRollout) {
    parts.push(
      `last rollout v${view.lastRollout.version ?? '-'} ${view.lastRollout.state}${view.lastRollout.reason ? ` (${view.lastRollout.reason})` : ''}`,
    );
  }
  const last = view.latestAnalyses.at(-1);
  if (last) {
    const failed = last.failedChecks.map((c) => c.check).join(', ');
    parts.push(`last analysis at ${last.trafficPercent}% ${last.passed ? 'passed' : `failed: ${failed}`}`);
  }
  parts.push(`last known good ${view.lastKnownGoodVersion ? `v${view.lastKnownGoodVersion}` : 'none'}`);
  // Running shadows only: an ended one is in the view's data, not worth a line.
  for (const shadow of view.shadows.filter((s) => s.status === 'running'))
    parts.push(describeShadow(shadow).slice(`${view.model} ${view.environment}: `.length));
  if (view.pendingApprovals === null) parts.push('pending approvals not known here');
  else if (view.pendingApprovals.length > 0)
    parts.push(
      `${view.pendingApprovals.length} pending approval(s): ${view.pendingApprovals.map((a) => `${a.approvalId} (${a.tool}${typeof a.args.trafficPercent === 'number' ? ` to ${a.args.trafficPercent}%` : ''})`).join(', ')}`,
    );
  else parts.push('no pending approvals');
  return `${where}: ${parts.join('; ')}`;
}
