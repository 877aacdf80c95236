import { z } from 'zod';
import { defineTool, NO_DATA_RISK } from './define-tool.js';
import { candidateQuality, requireSplit, requireVersion } from './lookups.js';
import type { Shadow } from './ports.js';
import { environmentSchema, shadowSchema } from './schemas.js';
import { describeShadow, shadowState } from './shadow-words.js';

const input = z
  .object({
    model: z.string().min(1).describe('Model name, e.g. "credit-risk"'),
    version: z.string().min(1).describe('Candidate version to shadow, e.g. "4"'),
    environment: environmentSchema.describe('staging or production'),
    mirrorPercent: z
      .number()
      .int()
      .min(1)
      .max(100)
      .describe(
        "Share (percent) of the stable version's requests copied to the candidate. The candidate scores them; every answer still comes from the stable version.",
      ),
  })
  .strict();

const output = shadowSchema;

export const deployShadow = defineTool({
  name: 'deploy_shadow',
  description:
    "Start a shadow: copy mirrorPercent of the requests the stable version answers to a candidate version, which scores them without its answers reaching anyone (customers keep getting the stable version's). Its scores are compared with the stable version's on the same requests (score PSI, mean score difference, agreement, error rate, p99 latency) and, as true labels come back, its accuracy. Use it before a canary, or to compare two candidates (shadow both at the same share: they see the same requests). Calling it for a shadow already running changes its share. It returns at once with the analysis so far, 'inconclusive' until enough requests were mirrored; read later results with deployment_status, and stop it with end_shadow.",
  input,
  output,
  annotations: { readOnly: false, destructive: false, idempotent: true, openWorld: true },
  async assessRisk(args, { backends }) {
    const [split, candidate] = await Promise.all([
      requireSplit(backends, args.model, args.environment),
      requireVersion(backends.registry, args.model, args.version),
    ]);
    const stable = await backends.registry.getVersion(args.model, split.stableVersion);
    return {
      environment: args.environment,
      // No customer gets a shadow's answers: no live traffic goes to the candidate.
      trafficPercent: 0,
      trafficChangePercent: 0,
      promotesToFull: false,
      ...candidateQuality(candidate, stable),
      reversible: true,
      data: NO_DATA_RISK,
    };
  },
  async preview(args, { backends }) {
    const [split, shadows] = await Promise.all([
      backends.deployer.getSplit(args.model, args.environment),
      backends.deployer.shadows(args.model, args.environment),
    ]);
    const running = shadows.filter((s) => s.status === 'running');
    return {
      now: split
        ? `v${split.stableVersion} answers; ${running.length ? running.map((s) => `shadow v${s.version} ${s.mirrorPercent}%`).join(', ') : 'no shadow'}`
        : 'not served',
      after: `shadow v${args.version} scores ${args.mirrorPercent}% of v${split?.stableVersion ?? '-'}'s requests; no customer gets its answers`,
      state: shadowState(split, shadows),
    };
  },
  async execute(args, { backends, principal, idempotencyKey }): Promise<Shadow> {
    await requireSplit(backends, args.model, args.environment);
    // The deployer keeps the key with the shadow: this call executed again gets the shadow it started.
    return backends.deployer.startShadow({
      model: args.model,
      version: args.version,
      environment: args.environment,
      mirrorPercent: args.mirrorPercent,
      requestedBy: principal,
      idempotencyKey,
    });
  },
  async lookup(_args, { backends, idempotencyKey }) {
    const found = await backends.deployer.lookup(idempotencyKey);
    if (found.state === 'not_started') return found;
    if (found.work.kind !== 'shadow')
      throw new Error(
        `idempotency key ${idempotencyKey} was used for a ${found.work.kind} of ${found.work.model}, not for this shadow`,
      );
    if (!found.work.shadow)
      throw new Error(
        `the shadow of ${found.work.model} v${found.work.version} started under key ${idempotencyKey} is no longer kept by the deployer`,
      );
    return { state: 'ended', output: found.work.shadow };
  },
  summarize: (out) => describeShadow(out),
});
