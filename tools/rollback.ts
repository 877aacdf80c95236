import { z } from 'zod';
import { defineTool, NO_DATA_RISK } from './define-tool.js';
import { describeSplit } from './split-preview.js';

const environment = z.enum(['staging', 'production']);

const input = z
  .object({
    model: z.string().min(1).describe('Model name, e.g. "credit-risk"'),
    environment: environment.describe('staging or production'),
    reason: z.string().min(3).max(500).describe('Why, in one sentence; recorded with the rollback'),
  })
  .strict();

const output = z.object({
  model: z.string(),
  environment: z.string(),
  stableVersion: z.string(),
  canaryVersion: z.string().nullable(),
  canaryPercent: z.number(),
  lastKnownGoodVersion: z.string(),
});

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
    return {
      environment: args.environment,
      trafficPercent: 0,
      trafficChangePercent: -split.canaryPercent,
      promotesToFull: false,
      qualityDelta: 0,
      failedQualityGates: [],
      // It restores a version that was already serving.
      reversible: true,
      data: NO_DATA_RISK,
    };
  },
  async preview(args, { backends }) {
    const split = await backends.deployer.getSplit(args.model, args.environment);
    return { now: describeSplit(split), after: split ? `v${split.lastKnownGoodVersion} 100% (last known good)` : 'not served', state: split ?? null };
  },
  execute: (args, { backends, principal }) =>
    backends.deployer.rollback({ model: args.model, environment: args.environment, reason: args.reason, requestedBy: principal }),
  summarize: (out) => `${out.model} ${out.environment}: all traffic on v${out.stableVersion} (last known good)`,
});
