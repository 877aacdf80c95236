// The KServe deployer's settings: which InferenceServices it drives (one per model and
// environment), how a version becomes a storageUri, the canary steps, and how to reach
// the cluster (a kubeconfig file, or in-cluster).
import { z } from 'zod';

const percent = z.number().int().min(1).max(100);

export const inferenceServiceTargetSchema = z
  .object({
    model: z.string().min(1),
    environment: z.enum(['staging', 'production']),
    namespace: z
      .string()
      .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'a Kubernetes namespace name (lower case, digits, -)'),
    /** The InferenceService's name (default: the model's name). */
    name: z
      .string()
      .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'a Kubernetes object name (lower case, digits, -)')
      .optional(),
    /** Where a version's model lives, e.g. `s3://models/credit-risk/{{version}}`; read back to tell which version a revision serves. */
    storageUri: z
      .string()
      .min(1)
      .refine((s) => s.includes('{{version}}'), { message: 'storageUri must contain {{version}}' }),
  })
  .strict();

export const kserveDeployerSettingsSchema = z
  .object({
    /** A kubeconfig file; absent: in-cluster when KUBERNETES_SERVICE_HOST is set, else $KUBECONFIG or ~/.kube/config. */
    kubeconfig: z.string().min(1).optional(),
    /** A context of that kubeconfig (default: its current-context). */
    context: z.string().min(1).optional(),
    inferenceServices: z.array(inferenceServiceTargetSchema).min(1, 'name at least one InferenceService'),
    /** Canary traffic steps, each followed by an analysis (default 10, 50, 100). */
    steps: z.array(percent).min(1).default([10, 50, 100]),
    /** How long the KServe controller may take to show a patched traffic split in the status (default 5 min). */
    reconcileTimeoutMs: z
      .number()
      .int()
      .positive()
      .default(5 * 60_000),
    /** How often the status is read while waiting for it (default 1 s). */
    pollMs: z.number().int().positive().default(1000),
    /** How often a canary held at its authorised share is analysed again (default 60 s). */
    watchIntervalMs: z.number().int().positive().default(60_000),
    /** Failed analyses in a row that roll a held canary back (default 2); a failed step rolls back at once. */
    failuresToRollback: z.number().int().min(1).default(2),
    /** The registry alias a promotion moves to the promoted version, per environment (null: none); as the lab's deployer does. */
    promoteAlias: z
      .object({
        production: z.string().min(1).nullable().default('champion'),
        staging: z.string().min(1).nullable().default(null),
      })
      .strict()
      .default({}),
  })
  .strict()
  .superRefine((s, ctx) => {
    const seen = new Set<string>();
    for (const [i, t] of s.inferenceServices.entries()) {
      const key = `${t.model}/${t.environment}`;
      if (seen.has(key))
        ctx.addIssue({
          code: z.ZodIssueCode.custom,
          path: ['inferenceServices', i],
          message: `${t.model} in ${t.environment} is listed twice`,
        });
      seen.add(key);
    }
  });

export type InferenceServiceTarget = z.output<typeof inferenceServiceTargetSchema>;
export type KServeDeployerSettings = z.output<typeof kserveDeployerSettingsSchema>;
export type KServeDeployerSettingsInput = z.input<typeof kserveDeployerSettingsSchema>;
