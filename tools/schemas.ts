// Schemas more than one tool declares, built from the ports' own lists so a tool cannot
// drift from what the backends accept.
import { z } from 'zod';
import {
  ENVIRONMENTS,
  ROLLOUT_STATUSES,
  SHADOW_STATUSES,
  SHADOW_VERDICTS,
  type Environment,
  type RolloutStatus,
  type ShadowStatus,
  type ShadowVerdict,
} from './ports.js';

export const environmentSchema = z.enum(ENVIRONMENTS as [Environment, ...Environment[]]);

export const rolloutStatusSchema = z.enum(ROLLOUT_STATUSES as [RolloutStatus, ...RolloutStatus[]]);

/** A model's traffic split in one environment, as the deployer reports it. */
export const trafficSplitSchema = z.object({
  model: z.string(),
  environment: z.string(),
  stableVersion: z.string(),
  canaryVersion: z.string().nullable(),
  canaryPercent: z.number(),
  lastKnownGoodVersion: z.string(),
});

/** One check of an analysis, a canary's or a shadow's (for a shadow, `canary` is the shadow's figure). */
export const analysisCheckSchema = z.object({
  check: z.string(),
  canary: z.number(),
  stable: z.number(),
  threshold: z.number(),
  passed: z.boolean(),
  bound: z.number().optional(),
  samples: z.object({ canary: z.number(), stable: z.number() }).optional(),
});

/** A shadow as the deployer reports it, with its comparison against the stable version. */
export const shadowSchema = z.object({
  model: z.string(),
  environment: environmentSchema,
  version: z.string(),
  mirrorPercent: z.number(),
  status: z.enum(SHADOW_STATUSES as [ShadowStatus, ...ShadowStatus[]]),
  startedAt: z.string(),
  endedAt: z.string().nullable(),
  requestedBy: z.string(),
  reason: z.string().nullable(),
  analysis: z
    .object({
      at: z.string(),
      stableVersion: z.string(),
      verdict: z.enum(SHADOW_VERDICTS as [ShadowVerdict, ...ShadowVerdict[]]),
      reason: z.string(),
      mirroredRequests: z.number(),
      meanScoreDelta: z.number().nullable(),
      agreement: z.number().nullable(),
      labelled: z.number(),
      checks: z.array(analysisCheckSchema),
    })
    .nullable(),
});
