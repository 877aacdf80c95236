// The `backends:` section of the config: which adapter serves each port, and the settings
// of the adapters chosen. Validated with the rest of the config at start; `openBackends`
// (from-config.ts) builds what it names.
import { z } from 'zod';
import { kserveDeployerSettingsSchema } from './kserve/settings.js';
import { prometheusAnalysisSettingsSchema } from './prometheus/settings.js';

/** Placeholders a command trainer's argv may use; each is filled from the trigger_retrain call. */
export const COMMAND_PLACEHOLDERS = [
  'model',
  'dataset',
  'params',
  'searchTrials',
  'requestedBy',
  'jobId',
  'idempotencyKey',
] as const;

const PLACEHOLDER = /\{([A-Za-z]+)\}/g;

function unknownPlaceholders(text: string): string[] {
  return [...text.matchAll(PLACEHOLDER)]
    .map((m) => m[1]!)
    .filter((name) => !(COMMAND_PLACEHOLDERS as readonly string[]).includes(name));
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

const mlflowSchema = z
  .object({
    /** The tracking server, e.g. https://mlflow.internal:5000 (env MLFLOW_TRACKING_URI). */
    trackingUri: z.string().url("a URL such as https://mlflow.internal:5000 (MLflow's MLFLOW_TRACKING_URI)").optional(),
    /** Bearer token (env MLFLOW_TRACKING_TOKEN); or username and password for basic auth. */
    token: z.string().min(1).optional(),
    username: z.string().min(1).optional(),
    password: z.string().min(1).optional(),
    /** Per request. */
    timeoutMs: z.coerce.number().int().positive().default(30_000),
    /**
     * Quality gates read from the metrics of the run behind a version: the gate's name (as
     * tools report it) -> the run's metric name, a threshold and a direction.
     */
    qualityGates: z
      .array(
        z
          .object({
            gate: z.string().min(1),
            metric: z.string().min(1),
            threshold: z.number(),
            /** `min`: the metric must be at least the threshold; `max`: at most. */
            direction: z.enum(['min', 'max']),
            /** Only for versions of this registered model (e.g. the lab's fx-signal, which logs no calibration); default every model. */
            model: z.string().min(1).optional(),
          })
          .strict(),
      )
      .default([
        { gate: 'auc', metric: 'auc', threshold: 0.82, direction: 'min' },
        { gate: 'calibration_error', metric: 'calibration_error', threshold: 0.05, direction: 'max' },
      ]),
    /** Run tag naming the training data's content hash (MLflow's dataset digests are used when it is absent). */
    dataVersionTag: z.string().min(1).default('data_version'),
  })
  .strict()
  .superRefine((m, ctx) => {
    if ((m.username === undefined) !== (m.password === undefined)) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: [m.username === undefined ? 'username' : 'password'],
        message: 'basic auth needs both username and password (MLFLOW_TRACKING_USERNAME, MLFLOW_TRACKING_PASSWORD)',
      });
    }
    if (m.token !== undefined && m.username !== undefined) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ['token'],
        message: 'set either a token (MLFLOW_TRACKING_TOKEN) or username and password, not both',
      });
    }
  });

const commandTrainerSchema = z
  .object({
    /**
     * The program and its arguments, run without a shell. Placeholders {model}, {dataset},
     * {params} (JSON), {searchTrials}, {requestedBy}, {jobId}, {idempotencyKey} are filled from the call.
     */
    argv: z
      .array(z.string())
      .min(1, 'give the program and its arguments, e.g. [python, train.py, --model, "{model}"]')
      .superRefine((argv, ctx) => {
        if (argv[0] === '') ctx.addIssue({ code: z.ZodIssueCode.custom, path: [0], message: 'the program is empty' });
        argv.forEach((arg, i) => {
          for (const name of unknownPlaceholders(arg)) {
            ctx.addIssue({
              code: z.ZodIssueCode.custom,
              path: [i],
              message: `unknown placeholder {${name}}; known: ${COMMAND_PLACEHOLDERS.map((p) => `{${p}}`).join(', ')}`,
            });
          }
        });
      }),
    /** Environment variables for the command, besides PATH, HOME, LANG and TMPDIR (nothing else of the agent's is passed on). */
    env: z
      .record(z.string().regex(ENV_NAME, 'an environment variable name: letters, digits and "_"'), z.string())
      .default({}),
    /** Working directory (default: the agent's). */
    cwd: z.string().min(1).optional(),
    /** The command is stopped (SIGTERM, then SIGKILL) and the job failed after this long. */
    timeoutMs: z.coerce
      .number()
      .int()
      .positive()
      .default(60 * 60_000),
  })
  .strict();

const httpTrainerSchema = z
  .object({
    /** POSTed the job as JSON (jobId, model, dataset, params, ...); must treat a repeated jobId as the same job. */
    startUrl: z.string().url(),
    /** GET for a job's status; `{jobId}` is replaced; 404 means no such job. */
    statusUrl: z
      .string()
      .min(1)
      .refine((u) => u.includes('{jobId}'), 'must contain {jobId}, e.g. https://train.internal/jobs/{jobId}')
      .refine((u) => URL.canParse(u.replace('{jobId}', 'x')), 'not a URL'),
    /** Sent as `Authorization: Bearer …`. */
    token: z.string().min(1).optional(),
    pollIntervalMs: z.coerce.number().int().positive().default(5000),
    /** Per request. */
    requestTimeoutMs: z.coerce.number().int().positive().default(30_000),
  })
  .strict();

export const backendsSchema = z
  .object({
    /** `auto` (default): mlflow when MLFLOW_TRACKING_URI / backends.mlflow.trackingUri is set, else local. */
    registry: z.enum(['auto', 'local', 'mlflow']).default('auto'),
    /** Canary analysis and monitoring metrics. */
    analysis: z.enum(['local', 'prometheus']).default('local'),
    deployer: z.enum(['local', 'kserve']).default('local'),
    trainer: z.enum(['local', 'command', 'http']).default('local'),
    mlflow: mlflowSchema.default({}),
    prometheus: prometheusAnalysisSettingsSchema.optional(),
    kserve: kserveDeployerSettingsSchema.optional(),
    commandTrainer: commandTrainerSchema.optional(),
    httpTrainer: httpTrainerSchema.optional(),
  })
  .strict()
  .superRefine((b, ctx) => {
    if (b.registry === 'mlflow' && !b.mlflow.trackingUri) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ['registry'],
        message: 'is mlflow but no tracking server is set: set MLFLOW_TRACKING_URI or backends.mlflow.trackingUri',
      });
    }
    if (b.trainer === 'command' && !b.commandTrainer) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ['trainer'],
        message: 'is command but backends.commandTrainer is not set: give at least commandTrainer.argv',
      });
    }
    if (b.analysis === 'prometheus' && !b.prometheus) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ['analysis'],
        message:
          'is prometheus but backends.prometheus is not set: give prometheus.url and prometheus.metrics (see examples/analysis-templates.yaml)',
      });
    }
    if (b.deployer === 'kserve' && !b.kserve) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ['deployer'],
        message:
          'is kserve but backends.kserve is not set: give kserve.inferenceServices (see examples/kserve-deployer.yaml)',
      });
    }
    if (b.trainer === 'http' && !b.httpTrainer) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ['trainer'],
        message:
          'is http but backends.httpTrainer is not set: give at least httpTrainer.startUrl and httpTrainer.statusUrl',
      });
    }
  });

export type BackendsSection = z.infer<typeof backendsSchema>;
export type MlflowSettings = z.infer<typeof mlflowSchema>;
export type CommandTrainerSettings = z.infer<typeof commandTrainerSchema>;
export type HttpTrainerSettings = z.infer<typeof httpTrainerSchema>;
export type MlflowQualityGate = MlflowSettings['qualityGates'][number];

/** `auto` made concrete: MLflow when a tracking server is configured (as llm `auto` picks Gemini when a key is set). */
export function resolveRegistry(b: Pick<BackendsSection, 'registry' | 'mlflow'>): 'local' | 'mlflow' {
  if (b.registry !== 'auto') return b.registry;
  return b.mlflow.trackingUri ? 'mlflow' : 'local';
}

/**
 * Choices that validate one by one but cannot work together. Checked when the backends are
 * opened, not when the config is read: MLFLOW_TRACKING_URI in an engineer's shell must not
 * stop commands that never act on a registry (the demo, audit, policy).
 */
export function combinationProblems(b: BackendsSection): string[] {
  const problems: string[] = [];
  // The KServe deployer judges each step through Prometheus: the lab's analysis reads the lab's
  // in-process traffic, which a cluster's canary never reaches. The lab's deployer takes either.
  if (b.deployer === 'kserve' && b.analysis !== 'prometheus')
    problems.push(
      'backends.analysis: is local, but the kserve deployer judges canary steps with Prometheus: set analysis to prometheus',
    );
  return problems;
}

/** Environment variables and the config key each sets (MLflow's own names). */
export const BACKENDS_ENV_KEYS: Record<string, string[]> = {
  MLFLOW_TRACKING_URI: ['backends', 'mlflow', 'trackingUri'],
  MLFLOW_TRACKING_TOKEN: ['backends', 'mlflow', 'token'],
  MLFLOW_TRACKING_USERNAME: ['backends', 'mlflow', 'username'],
  MLFLOW_TRACKING_PASSWORD: ['backends', 'mlflow', 'password'],
};
