import { z } from 'zod';
import { defineTool, NO_DATA_RISK } from './define-tool.js';
import { candidateQuality, requireVersion } from './lookups.js';
import { environmentSchema, rolloutStatusSchema, trafficSplitSchema } from './schemas.js';
import { describeSplit } from './split-preview.js';

const environment = environmentSchema;

const input = z
  .object({
    model: z.string().min(1).describe('Model name, e.g. "credit-risk"'),
    version: z.string().min(1).describe('Candidate version to receive traffic, e.g. "4"'),
    environment: environment.describe('staging or production'),
    trafficPercent: z
      .number()
      .min(1)
      .max(100)
      .describe(
        'The highest share of traffic (percent) the candidate may reach; the rollout steps up to it (1, 5, 25, 100) with an analysis against the stable version between steps. 100 promotes the candidate.',
      ),
  })
  .strict();

const output = trafficSplitSchema.omit({ lastKnownGoodVersion: true }).extend({
  targetPercent: z.number(),
  status: rolloutStatusSchema,
  reason: z.string().nullable(),
  analyses: z.array(
    z.object({
      at: z.string(),
      trafficPercent: z.number(),
      passed: z.boolean(),
      checks: z.array(
        z.object({
          check: z.string(),
          canary: z.number(),
          stable: z.number(),
          threshold: z.number(),
          passed: z.boolean(),
          bound: z.number().optional(),
          samples: z.object({ canary: z.number(), stable: z.number() }).optional(),
        }),
      ),
    }),
  ),
});

/** The deployer pauses a rollout still stepping after this long... */
const ROLLOUT_TIMEOUT_MS = 10 * 60_000;
/** ...so the call waits a little longer: it should end with that pause, not time out first. */
const WAIT_TIMEOUT_MS = ROLLOUT_TIMEOUT_MS + 60_000;

/** What poll needs to find the rollout this call started. */
const handle = z.object({ model: z.string(), environment, version: z.string(), targetPercent: z.number() }).strict();

export const deployCanary = defineTool({
  name: 'deploy_canary',
  description:
    "Route a share of a model's live traffic in an environment to a candidate version. The rollout steps up to trafficPercent with an automatic analysis (error rate, p99 latency, score distribution, accuracy) between steps; a failed analysis rolls back on its own, and a canary held at its target keeps being analysed (and rolled back if it goes bad) until it is promoted or rolled back. Stepping can take minutes; the call returns when the rollout stops at its target, is promoted or rolled back (the run waits without holding anything up). Returns the rollout: current split, status (paused at the target, promoted at 100, or rolled_back) and every analysis.",
  input,
  output,
  handle,
  annotations: { readOnly: false, destructive: true, idempotent: true, openWorld: true },
  async assessRisk(args, { backends }) {
    const [split, candidate] = await Promise.all([
      backends.deployer.getSplit(args.model, args.environment),
      requireVersion(backends.registry, args.model, args.version),
    ]);
    const stable = split ? await backends.registry.getVersion(args.model, split.stableVersion) : undefined;
    const currentShare = split?.canaryVersion === args.version ? split.canaryPercent : 0;
    return {
      environment: args.environment,
      trafficPercent: args.trafficPercent,
      trafficChangePercent: args.trafficPercent - currentShare,
      promotesToFull: args.trafficPercent >= 100,
      ...candidateQuality(candidate, stable),
      reversible: true,
      data: NO_DATA_RISK,
    };
  },
  async preview(args, { backends }) {
    const split = await backends.deployer.getSplit(args.model, args.environment);
    const after = !split
      ? `not served: ${args.model} has no version serving ${args.environment} to canary against`
      : args.trafficPercent >= 100
        ? `v${args.version} 100% (promoted)`
        : `${describeSplit({ ...split, canaryVersion: args.version, canaryPercent: args.trafficPercent })} (stepping up with an analysis at each step)`;
    return { now: describeSplit(split), after, state: split ?? null };
  },
  async start(args, { backends, principal, idempotencyKey }) {
    const handle = {
      model: args.model,
      environment: args.environment,
      version: args.version,
      targetPercent: args.trafficPercent,
    };
    // The same rollout already stepping (proposed again under another call) is waited for, not started twice.
    const current = await backends.deployer.rollout(args.model, args.environment);
    if (
      current?.status === 'progressing' &&
      current.canaryVersion === args.version &&
      current.targetPercent === args.trafficPercent
    )
      return { handle, timeoutMs: WAIT_TIMEOUT_MS };
    // The deployer keeps the key with the rollout: this call started again gets the rollout it started.
    await backends.deployer.startCanary({
      model: args.model,
      version: args.version,
      environment: args.environment,
      targetPercent: args.trafficPercent,
      requestedBy: principal,
      timeoutMs: ROLLOUT_TIMEOUT_MS,
      idempotencyKey,
    });
    return { handle, timeoutMs: WAIT_TIMEOUT_MS };
  },
  async lookup(args, { backends, idempotencyKey }) {
    const found = await backends.deployer.lookup(idempotencyKey);
    if (found.state === 'not_started') return found;
    if (found.work.kind !== 'canary')
      throw new Error(
        `idempotency key ${idempotencyKey} was used for a ${found.work.kind} of ${found.work.model}, not for this canary`,
      );
    // Ended or not, the rollout is followed like a started one: poll reads its end.
    return {
      state: 'started',
      handle: {
        model: args.model,
        environment: args.environment,
        version: args.version,
        targetPercent: args.trafficPercent,
      },
      timeoutMs: WAIT_TIMEOUT_MS,
    };
  },
  async poll({ model, environment, version }, { backends }) {
    const rollout = await backends.deployer.rollout(model, environment);
    if (!rollout) throw new Error(`no rollout of ${model} in ${environment} is known to this deployer`);
    // Still stepping this version: not done. Any other state (paused, promoted, rolled back, or another version since) is the end of it.
    return rollout.status === 'progressing' && rollout.canaryVersion === version ? null : rollout;
  },
  async whenDone({ model, environment }, { backends }, { timeoutMs, signal }) {
    await backends.deployer.waitForRollout(model, environment, { timeoutMs, signal });
  },
  describeWait: ({ model, environment, version, targetPercent }) =>
    `canary of ${model} v${version} stepping up to ${targetPercent}% in ${environment}`,
  summarize(out) {
    const last = out.analyses.at(-1);
    const failed =
      last && !last.passed
        ? ` (failed: ${last.checks
            .filter((c) => !c.passed)
            .map((c) => c.check)
            .join(', ')})`
        : '';
    return `${out.model} ${out.environment}: canary v${out.canaryVersion ?? '-'} at ${out.canaryPercent}% of target ${out.targetPercent}%, ${out.status}${failed}`;
  },
});
