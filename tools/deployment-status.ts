import { z } from 'zod';
import { environmentSchema } from './schemas.js';
import { defineTool, NO_RISK } from './define-tool.js';
import { requireModel } from './lookups.js';
import { buildServingViews, describeServingView, servingViewSchema } from './serving-view.js';

const input = z
  .object({
    model: z.string().min(1).describe('Model name, e.g. "credit-risk"'),
    environment: environmentSchema.optional().describe('staging or production; omitted: both'),
  })
  .strict();

const output = z.object({ model: z.string(), views: z.array(servingViewSchema) });

export const deploymentStatus = defineTool({
  name: 'deployment_status',
  description:
    "What serves a model now, per environment: the traffic split (stable and canary versions with their shares), the canary's step, target and state, its latest analyses with the checks that failed, the last rollout if it ended (promoted or rolled back, and why), the last known-good version a rollback returns to, and the calls waiting for human approval that touch it. Read-only. Look here before changing anything about a model, and to answer what serves where.",
  input,
  output,
  annotations: { readOnly: true, destructive: false, idempotent: true, openWorld: false },
  // An unknown model is a not-found before the policy is asked, like every tool's.
  async assessRisk(args, { backends }) {
    await requireModel(backends.registry, args.model);
    return NO_RISK;
  },
  async execute(args, { backends }) {
    return { model: args.model, views: await buildServingViews(backends, args.model, args.environment) };
  },
  summarize: (out) => out.views.map(describeServingView).join(' | '),
});
