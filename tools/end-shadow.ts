import { z } from 'zod';
import { UserError } from '../src/errors.js';
import { defineTool, NO_RISK } from './define-tool.js';
import { requireSplit } from './lookups.js';
import { environmentSchema, shadowSchema } from './schemas.js';
import { describeShadow, shadowState } from './shadow-words.js';

const input = z
  .object({
    model: z.string().min(1).describe('Model name, e.g. "credit-risk"'),
    environment: environmentSchema.describe('staging or production'),
    version: z
      .string()
      .min(1)
      .optional()
      .describe('The shadow version to end; omit when only one shadow of the model runs there'),
    reason: z.string().min(3).max(500).describe('Why, in one sentence; recorded with the shadow'),
  })
  .strict();

const output = z.object({
  model: z.string(),
  environment: environmentSchema,
  /** True when no such shadow ran: nothing changed and nothing was written. */
  noop: z.boolean(),
  noopReason: z.string().nullable(),
  /** The shadow as it ended, with its last analysis; null on a no-op. */
  shadow: shadowSchema.nullable(),
});

export const endShadow = defineTool({
  name: 'end_shadow',
  description:
    'Stop a shadow: the candidate stops receiving copies of requests. No customer traffic changes (a shadow never answered anyone). Returns the shadow as it ended with its last analysis against the stable version; when no such shadow runs it changes nothing and says so (noop: true). A rollback leaves shadows running; a version that becomes the stable one (promoted, or returned to by a rollback) ends its own shadow.',
  input,
  output,
  annotations: { readOnly: false, destructive: false, idempotent: true, openWorld: true },
  async assessRisk(args, { backends }) {
    await requireSplit(backends, args.model, args.environment);
    // Nothing a customer gets changes: no risk figure moves.
    return { ...NO_RISK, environment: args.environment };
  },
  async preview(args, { backends }) {
    const [split, shadows] = await Promise.all([
      backends.deployer.getSplit(args.model, args.environment),
      backends.deployer.shadows(args.model, args.environment),
    ]);
    const running = shadows.filter((s) => s.status === 'running');
    return {
      now: running.length ? running.map((s) => `shadow v${s.version} ${s.mirrorPercent}%`).join(', ') : 'no shadow',
      after: `${args.version ? `shadow v${args.version}` : 'the shadow'} ended; customers' answers unchanged`,
      state: shadowState(split, shadows),
    };
  },
  async execute(args, { backends, principal, idempotencyKey }) {
    await requireSplit(backends, args.model, args.environment);
    const running = (await backends.deployer.shadows(args.model, args.environment)).filter(
      (s) => s.status === 'running',
    );
    const base = { model: args.model, environment: args.environment };
    if (args.version === undefined && running.length > 1)
      throw new UserError(
        `${running.length} shadows of ${args.model} run in ${args.environment} (v${running.map((s) => s.version).join(', v')}); name the one to end with version`,
      );
    const version = args.version ?? running[0]?.version;
    if (version === undefined || !running.some((s) => s.version === version)) {
      // Nothing is asked of the deployer, so nothing lands in its history.
      const noopReason = `nothing to end: ${version === undefined ? 'no shadow' : `no shadow of v${version}`} of ${args.model} runs in ${args.environment}`;
      return { ...base, noop: true, noopReason, shadow: null };
    }
    // The deployer keeps the key with the end, so this call executed again is answered with what it did.
    const shadow = await backends.deployer.endShadow({
      ...base,
      version,
      reason: args.reason,
      requestedBy: principal,
      idempotencyKey,
    });
    return { ...base, noop: false, noopReason: null, shadow };
  },
  async lookup(args, { backends, idempotencyKey }) {
    const found = await backends.deployer.lookup(idempotencyKey);
    if (found.state === 'not_started') return found;
    if (found.work.kind !== 'shadow_end')
      throw new Error(
        `idempotency key ${idempotencyKey} was used for a ${found.work.kind} of ${found.work.model}, not for this end of a shadow`,
      );
    return {
      state: 'ended',
      output: {
        model: args.model,
        environment: args.environment,
        noop: false,
        noopReason: null,
        shadow: found.work.shadow,
      },
    };
  },
  summarize: (out) =>
    out.noop || !out.shadow
      ? `${out.model} ${out.environment}: no-op, ${out.noopReason ?? 'nothing to end'}`
      : describeShadow(out.shadow),
});
