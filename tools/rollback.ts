import { z } from 'zod';
import { defineTool } from './define-tool.js';
import { describeSplit } from './split-preview.js';

const environment = z.enum(['staging', 'production']);

const input = z
  .object({
    model: z.string().min(1).describe('Model name, e.g. "credit-risk"'),
    environment: environment.describe('staging or production'),
    reason: z.string().min(3).max(500).describe('Why, in one sentence; recorded with the rollback'),
    expectedCanaryVersion: z
      .string()
      .min(1)
      .optional()
      .describe('The canary version the alert was about (its "version" label). If another version, or none, is canarying now, nothing is rolled back and the answer says so: that canary needs an alert of its own. Omit to roll back whatever canary holds traffic.'),
  })
  .strict();

const output = z.object({
  model: z.string(),
  environment: z.string(),
  stableVersion: z.string(),
  canaryVersion: z.string().nullable(),
  canaryPercent: z.number(),
  lastKnownGoodVersion: z.string(),
  /** Set when nothing was rolled back, saying why (the canary the alert was about is not the one canarying now). */
  unchanged: z.string().optional(),
});

/** Why a rollback for the canary an alert named must not touch what serves now, or null when it may. */
function otherCanary(expected: string | undefined, canaryVersion: string | null): string | null {
  if (expected === undefined || canaryVersion === expected) return null;
  const now = canaryVersion === null ? 'no canary holds traffic now' : `v${canaryVersion} is canarying now`;
  return `not rolled back: the alert was about canary v${expected}, but ${now}; a different canary is rolled back only on an alert about it`;
}

export const rollback = defineTool({
  name: 'rollback',
  description:
    'Send all of a model\'s traffic in an environment back to its last known-good version at once, ending any canary. Use it when a candidate misbehaves. Returns the split after the rollback.',
  input,
  output,
  annotations: { readOnly: false, destructive: true, idempotent: true, openWorld: true },
  async assessRisk(args, { backends }) {
    const split = await backends.deployer.getSplit(args.model, args.environment);
    if (!split) throw new Error(`model ${args.model} is not served in ${args.environment}`);
    const untouched = otherCanary(args.expectedCanaryVersion, split.canaryVersion) !== null;
    return {
      environment: args.environment,
      trafficPercent: 0,
      trafficChangePercent: untouched ? 0 : -split.canaryPercent,
      promotesToFull: false,
      qualityDelta: 0,
      failedQualityGates: [],
      // It restores a version that was already serving.
      reversible: true,
    };
  },
  async preview(args, { backends }) {
    const split = await backends.deployer.getSplit(args.model, args.environment);
    return { now: describeSplit(split), after: split ? `v${split.lastKnownGoodVersion} 100% (last known good)` : 'not served', state: split ?? null };
  },
  async execute(args, { backends, principal, idempotencyKey }) {
    if (args.expectedCanaryVersion !== undefined) {
      const split = await backends.deployer.getSplit(args.model, args.environment);
      const unchanged = split ? otherCanary(args.expectedCanaryVersion, split.canaryVersion) : null;
      if (split && unchanged) return { ...split, unchanged };
    }
    // The deployer keeps the key with the rollback, so this call executed again is answered with what it did.
    return backends.deployer.rollback({ model: args.model, environment: args.environment, reason: args.reason, requestedBy: principal, idempotencyKey });
  },
  async lookup(_args, { backends, idempotencyKey }) {
    const found = await backends.deployer.lookup(idempotencyKey);
    if (found.state === 'not_started') return found;
    if (found.work.kind !== 'rollback') throw new Error(`idempotency key ${idempotencyKey} was used for a ${found.work.kind} of ${found.work.model}, not for this rollback`);
    return { state: 'ended', output: found.work.split };
  },
  summarize: (out) => (out.unchanged ? `${out.model} ${out.environment}: ${out.unchanged}` : `${out.model} ${out.environment}: all traffic on v${out.stableVersion} (last known good)`),
});
