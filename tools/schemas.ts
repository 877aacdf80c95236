// Schemas more than one tool declares, built from the ports' own lists so a tool cannot
// drift from what the backends accept.
import { z } from 'zod';
import { ENVIRONMENTS, ROLLOUT_STATUSES, type Environment, type RolloutStatus } from './ports.js';

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
