import { z } from 'zod';
import { defineTool, NO_RISK } from './define-tool.js';
import { requireSplit } from './lookups.js';
import type { Backends, TrafficSplit } from './ports.js';
import { environmentSchema, trafficSplitSchema } from './schemas.js';
import { describeSplit } from './split-preview.js';

const environment = environmentSchema;

const input = z
  .object({
    model: z.string().min(1).describe('Model name, e.g. "credit-risk"'),
    environment: environment.describe('staging or production'),
    reason: z.string().min(3).max(500).describe('Why, in one sentence; recorded with the rollback'),
    expectedCanaryVersion: z
      .string()
      .min(1)
      .optional()
      .describe(
        'The canary version the alert was about (its "version" label). If another version, or none, is canarying now, nothing is rolled back and the answer says so (noop: true): that canary needs an alert of its own. Omit to roll back whatever canary holds traffic.',
      ),
  })
  .strict();

const output = trafficSplitSchema.extend({
  /** True when there was nothing to roll back: nothing changed and nothing was written. */
  noop: z.boolean().optional(),
  /** Why it was a no-op, in a sentence. */
  noopReason: z.string().nullable().optional(),
  /** The version taken off traffic and the share it had; null on a no-op. */
  rolledBack: z.object({ version: z.string(), percent: z.number() }).nullable().optional(),
});

/** Nothing to roll back: no canary and the last known-good version already serves everything. */
function nothingToRollBack(split: TrafficSplit): boolean {
  return split.canaryVersion === null && split.stableVersion === split.lastKnownGoodVersion;
}

/** Why a rollback for the canary an alert named must not touch what serves now, or null when it may. */
function otherCanary(expected: string | undefined, canaryVersion: string | null): string | null {
  if (expected === undefined || canaryVersion === expected) return null;
  const now = canaryVersion === null ? 'no canary holds traffic now' : `v${canaryVersion} is canarying now`;
  return `not rolled back: the alert was about canary v${expected}, but ${now}; a different canary is rolled back only on an alert about it`;
}

/** Why there is no earlier good version to return to, or null when there is one. */
async function noGoodVersion(backends: Backends, split: TrafficSplit): Promise<string | null> {
  const target = split.lastKnownGoodVersion;
  if (!target) return `the deployer records no last known-good version of ${split.model} in ${split.environment}`;
  if (target === split.canaryVersion) return `the last known-good version v${target} is the canary being rolled back`;
  const version = await backends.registry.getVersion(split.model, target);
  if (!version) return `the last known-good version v${target} is not in the registry`;
  if (!version.promotable) return `the last known-good version v${target} failed its quality gates`;
  return null;
}

export const rollback = defineTool({
  name: 'rollback',
  description:
    "Send all of a model's traffic in an environment back to its last known-good version at once, ending any canary. Use it when a candidate misbehaves. When no canary holds traffic and the last known-good version already serves 100%, it changes nothing and says so (noop: true). Fails when there is no earlier good version to return to. Returns the split after the rollback.",
  input,
  output,
  annotations: { readOnly: false, destructive: true, idempotent: true, openWorld: true },
  async assessRisk(args, { backends }) {
    const split = await requireSplit(backends, args.model, args.environment);
    const untouched = otherCanary(args.expectedCanaryVersion, split.canaryVersion) !== null;
    // Otherwise no risk: it restores a version that was already serving (reversible, no quality change).
    return { ...NO_RISK, environment: args.environment, trafficChangePercent: untouched ? 0 : -split.canaryPercent };
  },
  async preview(args, { backends }) {
    const split = await backends.deployer.getSplit(args.model, args.environment);
    return {
      now: describeSplit(split),
      after: split ? `v${split.lastKnownGoodVersion} 100% (last known good)` : 'not served',
      state: split ?? null,
    };
  },
  async execute(args, { backends, principal, idempotencyKey }) {
    const before = await requireSplit(backends, args.model, args.environment);
    const other = otherCanary(args.expectedCanaryVersion, before.canaryVersion);
    // The canary the alert was about is gone; another one is judged by an alert about it.
    if (other) return { ...before, noop: true, noopReason: other, rolledBack: null };
    if (nothingToRollBack(before)) {
      // Nothing is asked of the deployer, so nothing lands in its history.
      const noopReason = `nothing to roll back: no canary holds traffic and v${before.stableVersion} (the last known-good version) serves 100% of ${args.environment}`;
      return { ...before, noop: true, noopReason, rolledBack: null };
    }
    const problem = await noGoodVersion(backends, before);
    if (problem) throw new Error(`no earlier good version to return to: ${problem}; nothing was changed`);
    // The deployer keeps the key with the rollback, so this call executed again is answered with what it did.
    const after = await backends.deployer.rollback({
      model: args.model,
      environment: args.environment,
      reason: args.reason,
      requestedBy: principal,
      idempotencyKey,
    });
    const rolledBack = before.canaryVersion
      ? { version: before.canaryVersion, percent: before.canaryPercent }
      : { version: before.stableVersion, percent: 100 };
    return { ...after, noop: false, noopReason: null, rolledBack };
  },
  async lookup(_args, { backends, idempotencyKey }) {
    const found = await backends.deployer.lookup(idempotencyKey);
    if (found.state === 'not_started') return found;
    if (found.work.kind !== 'rollback')
      throw new Error(
        `idempotency key ${idempotencyKey} was used for a ${found.work.kind} of ${found.work.model}, not for this rollback`,
      );
    // Done before this attempt: the split it left (what it took off traffic is in the deployer's history).
    return { state: 'ended', output: { ...found.work.split, noop: false, noopReason: null } };
  },
  summarize: (out) =>
    out.noop
      ? `${out.model} ${out.environment}: no-op, ${out.noopReason ?? 'nothing to roll back'}`
      : `${out.model} ${out.environment}: all traffic on v${out.stableVersion} (last known good)${out.rolledBack ? `; v${out.rolledBack.version} (${out.rolledBack.percent}%) taken off traffic` : ''}`,
});
