import { z } from 'zod';
import { defineTool, NO_RISK } from './define-tool.js';
import { requireModel, requireVersion } from './lookups.js';

const input = z
  .object({
    action: z
      .enum(['list_models', 'list_versions', 'get_version', 'alias_history', 'compare'])
      .describe(
        "list_models: every model with its aliases; list_versions: all versions of `model`; get_version: one version with lineage and metrics; alias_history: every move of `model`'s aliases; compare: `version` against `compareWith` (or the champion)",
      ),
    model: z.string().min(1).optional().describe('Model name; required for every action but list_models'),
    version: z.string().min(1).optional().describe('Version number, e.g. "3"; required for get_version and compare'),
    compareWith: z
      .string()
      .min(1)
      .optional()
      .describe("For compare: the other version; default the model's current champion"),
  })
  .strict()
  .superRefine((value, ctx) => {
    if (value.action !== 'list_models' && !value.model) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ['model'],
        message: `model is required for action ${value.action}`,
      });
    }
    if ((value.action === 'get_version' || value.action === 'compare') && !value.version) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ['version'],
        message: `version is required for action ${value.action}`,
      });
    }
  });

const gate = z.object({
  gate: z.string(),
  value: z.number(),
  threshold: z.number(),
  direction: z.enum(['min', 'max']),
  passed: z.boolean(),
});
const version = z.object({
  model: z.string(),
  version: z.string(),
  createdAt: z.string(),
  createdBy: z.string(),
  dataVersion: z.string(),
  dataset: z.string(),
  /** The data-quality report on the training data when it was trained; null: never checked. */
  dataQualityReport: z.string().nullable(),
  params: z.record(z.union([z.number(), z.string(), z.boolean()])),
  metrics: z.record(z.number()),
  codeVersion: z.string().nullable(),
  trainingJobId: z.string().nullable(),
  qualityGates: z.array(gate),
  promotable: z.boolean(),
  aliases: z.array(z.string()),
});

const output = z.object({
  models: z
    .array(
      z.object({
        name: z.string(),
        description: z.string(),
        latestVersion: z.string().nullable(),
        aliases: z.record(z.string()),
        versionCount: z.number(),
      }),
    )
    .optional(),
  versions: z.array(version).optional(),
  aliasHistory: z
    .array(
      z.object({
        model: z.string(),
        alias: z.string(),
        from: z.string().nullable(),
        to: z.string().nullable(),
        at: z.string(),
        by: z.string(),
        reason: z.string(),
      }),
    )
    .optional(),
  comparison: z
    .object({
      base: version,
      candidate: version,
      /** candidate minus base, per metric both have */
      metricDeltas: z.record(z.number()),
      sameData: z.boolean(),
      paramChanges: z.record(z.object({ base: z.unknown(), candidate: z.unknown() })),
    })
    .optional(),
});

export const registryQuery = defineTool({
  name: 'registry_query',
  description:
    'Read the model registry: list models and their aliases (champion, challenger), list versions, get one version with its lineage (training data version and the hash of the data-quality report it was trained on, parameters, code version, who created it) and metrics (auc, calibration_error, parity_gap, p99_latency_ms) and quality-gate results, the history of alias moves, or compare two versions. Read-only.',
  input,
  output,
  annotations: { readOnly: true, destructive: false, idempotent: true, openWorld: false },
  // An unknown model or version is a not-found before the policy is asked.
  async assessRisk(args, { backends: { registry } }) {
    if (args.action === 'list_models') return NO_RISK;
    if (args.version) await requireVersion(registry, args.model!, args.version);
    else await requireModel(registry, args.model!);
    if (args.compareWith) await requireVersion(registry, args.model!, args.compareWith);
    return NO_RISK;
  },
  async execute(args, { backends: { registry } }) {
    const model = args.model ?? '';
    switch (args.action) {
      case 'list_models':
        return { models: await registry.listModels() };
      case 'list_versions':
        return { versions: await registry.listVersions(model) };
      case 'get_version':
        return { versions: [await requireVersion(registry, model, args.version!)] };
      case 'alias_history':
        return { aliasHistory: await registry.aliasHistory(model) };
      case 'compare': {
        const candidate = await requireVersion(registry, model, args.version!);
        const base = args.compareWith
          ? await requireVersion(registry, model, args.compareWith)
          : await registry.resolveAlias(model, 'champion');
        if (!base) throw new Error(`model ${model} has no champion to compare with; pass compareWith`);
        const metricDeltas: Record<string, number> = {};
        for (const [name, value] of Object.entries(candidate.metrics)) {
          const before = base.metrics[name];
          if (before !== undefined) metricDeltas[name] = value - before;
        }
        const paramChanges: Record<string, { base: unknown; candidate: unknown }> = {};
        for (const key of new Set([...Object.keys(base.params), ...Object.keys(candidate.params)])) {
          if (base.params[key] !== candidate.params[key])
            paramChanges[key] = { base: base.params[key] ?? null, candidate: candidate.params[key] ?? null };
        }
        return {
          comparison: {
            base,
            candidate,
            metricDeltas,
            sameData: base.dataVersion === candidate.dataVersion,
            paramChanges,
          },
        };
      }
    }
  },
  summarize(out) {
    if (out.models)
      return `${out.models.length} model(s): ${out.models.map((m) => `${m.name} (champion ${m.aliases.champion ?? 'none'})`).join(', ')}`;
    if (out.comparison) {
      const d = out.comparison.metricDeltas.auc;
      return `v${out.comparison.candidate.version} vs v${out.comparison.base.version}: AUC ${d === undefined ? 'n/a' : `${d >= 0 ? '+' : ''}${d.toFixed(4)}`}`;
    }
    if (out.aliasHistory) return `${out.aliasHistory.length} alias move(s)`;
    if (out.versions?.length === 1) {
      const v = out.versions[0]!;
      return `${v.model} v${v.version}: AUC ${v.metrics.auc?.toFixed(4) ?? 'n/a'}, ${v.promotable ? 'promotable' : 'NOT promotable (failed gates)'}`;
    }
    return `${out.versions?.length ?? 0} version(s)`;
  },
});
