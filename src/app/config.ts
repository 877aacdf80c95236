// One validated configuration: an optional YAML file plus environment variables, read
// once and handed down. No other module reads process.env.
import { existsSync, readFileSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { CronExpressionParser } from 'cron-parser';
import { LineCounter, parseDocument } from 'yaml';
import { z } from 'zod';
import { duplicateTokenProblems, SCOPES } from '../api-tokens.js';
import { UserError } from '../errors.js';
import { defaultContractFiles, defaultPolicyDir } from '../paths.js';
import type { SlackConfig } from '../slack/index.js';
import { BACKENDS_ENV_KEYS, backendsSchema } from '../backends/settings.js';

const qualityGatesSchema = z
  .object({
    minAuc: z.number().min(0).max(1).default(0.82),
    maxCalibrationError: z.number().min(0).max(1).default(0.05),
    maxP99LatencyMs: z.number().positive().default(50),
    /** Demographic-parity gap as a fraction: 0.05 is five points. */
    maxParityGap: z.number().min(0).max(1).default(0.05),
  })
  .strict();

/** Slack's member ids (U…, or W… on Enterprise Grid), as they arrive in interaction payloads. */
const SLACK_USER_ID = /^[UW][A-Z0-9]{2,}$/;

const slackSchema = z
  .object({
    /** Bot User OAuth Token (xoxb-…): posts and updates the approval messages. */
    botToken: z
      .string()
      .regex(/^xoxb-\S+$/, 'a bot token starts with xoxb- (OAuth & Permissions > Bot User OAuth Token)')
      .optional(),
    /** Signing Secret (Basic Information > App Credentials): checks that requests come from Slack. */
    signingSecret: z
      .string()
      .min(16, 'the signing secret has 32 hex characters (Basic Information > App Credentials)')
      .optional(),
    /** The channel approval requests are posted to: an id (C0123ABC) is safest; a #name works too. */
    approvalChannel: z.string().min(1).optional(),
    /** Where the Web API client sends its calls (tests point it at a local server). */
    apiUrl: z.string().url().optional(),
    /** Slack member id -> the principal it acts as in the policy, e.g. U0123ABC: user:alice. */
    users: z
      .record(
        z.string().regex(SLACK_USER_ID, 'a Slack member id looks like U0123ABC (profile > ⋮ > Copy member ID)'),
        z.string().min(1),
      )
      .default({}),
  })
  .strict()
  .superRefine((slack, ctx) => {
    // Half a Slack set-up would post buttons nobody can use, or take clicks nobody can check.
    const required = ['botToken', 'signingSecret', 'approvalChannel'] as const;
    const present = required.filter((k) => slack[k] !== undefined);
    if (present.length === 0 && (slack.apiUrl !== undefined || Object.keys(slack.users).length > 0)) {
      for (const key of required)
        ctx.addIssue({
          code: z.ZodIssueCode.custom,
          path: [key],
          message: 'required: slack is partially configured (apiUrl or users are set)',
        });
      return;
    }
    if (present.length > 0) {
      for (const key of required) {
        if (slack[key] === undefined)
          ctx.addIssue({
            code: z.ZodIssueCode.custom,
            path: [key],
            message: `required: slack is partially configured (${present.join(', ')} set)`,
          });
      }
    }
  });

function validTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

function cronProblem(expr: string): string | null {
  try {
    CronExpressionParser.parse(expr);
    return null;
  } catch (err) {
    return (err as Error).message;
  }
}

/** A cron schedule that starts runs with trigger `schedule` (a BullMQ job scheduler with Redis). */
const scheduleSchema = z
  .object({
    /** Stable id: renaming a schedule removes the old one and creates a new one. */
    name: z
      .string()
      .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'lowercase letters, digits and "-", e.g. nightly-retrain-credit-risk'),
    /** Five fields (minute hour day month weekday) or six with leading seconds. */
    cron: z
      .string()
      .min(1)
      .superRefine((expr, ctx) => {
        const problem = cronProblem(expr);
        if (problem) ctx.addIssue({ code: z.ZodIssueCode.custom, message: `not a cron expression: ${problem}` });
      }),
    /** IANA time zone of `cron`; default UTC. */
    tz: z.string().refine(validTimeZone, 'not an IANA time zone, e.g. Europe/London').default('UTC'),
    /** The task, in words, for the LLM; also the run's trigger text. */
    task: z.string().min(1).max(8000),
    /** The runbook (prompts/runbooks, by id) that plans the run without an LLM and when the LLM fails. */
    runbook: z.string().min(1).optional(),
    /** Values the runbook's templates read as `schedule.labels.X`, e.g. model, dataset, environment. */
    labels: z.record(z.string(), z.string()).default({}),
  })
  .strict();

const configSchema = z
  .object({
    /** Data directory: audit log, runs, the local lab. */
    home: z.string().min(1).default('.mlops-agent'),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    llm: z
      .object({
        /** `auto`: Gemini when a key is set (or Vertex AI is on), else an OpenAI-compatible endpoint when set, else the runbook. */
        provider: z.enum(['auto', 'gemini', 'openai', 'runbook']).default('auto'),
        geminiApiKey: z.string().min(1).optional(),
        geminiModel: z.string().min(1).default('gemini-2.5-flash'),
        geminiBaseUrl: z.string().url().optional(),
        /** Gemini on Vertex AI (project, location, application default credentials) instead of the Gemini API with a key. */
        vertexai: z
          .preprocess(
            (v) => (v === 'true' || v === '1' ? true : v === 'false' || v === '0' ? false : v),
            z.boolean({ invalid_type_error: 'true or false' }),
          )
          .default(false),
        vertexProject: z.string().min(1).optional(),
        /** The Vertex AI region requests are served in, e.g. europe-west4 (where the data is processed). */
        vertexLocation: z.string().min(1).optional(),
        openaiBaseUrl: z.string().url().optional(),
        openaiApiKey: z.string().min(1).optional(),
        openaiModel: z.string().min(1).default('llama3.1'),
        /** Per request. */
        timeoutMs: z.number().int().positive().default(60_000),
        /** Retries of 429, 5xx and timeouts, with exponential backoff. */
        maxRetries: z.number().int().min(0).max(10).default(3),
        retryBaseDelayMs: z.number().int().min(0).default(500),
        /** Failed turns in a row (each after its retries) that open the planner's circuit breaker. */
        breakerFailures: z.number().int().min(1).max(100).default(2),
        /** How long an open breaker sends alert runs straight to their runbook before it probes the LLM again. */
        breakerCoolDownMs: z.number().int().min(1000).default(60_000),
      })
      .strict()
      .default({}),
    loop: z
      .object({
        maxSteps: z.number().int().positive().default(20),
        maxWallMs: z
          .number()
          .int()
          .positive()
          .default(15 * 60_000),
        maxTokens: z.number().int().positive().default(200_000),
        /** The same call with the same arguments is refused after this many times in one run. */
        maxRepeatedCalls: z.number().int().positive().default(2),
      })
      .strict()
      .default({}),
    policy: z
      .object({
        files: z
          .array(z.string().min(1))
          .min(1)
          .default([join(defaultPolicyDir, 'default.yaml')]),
        /** Decisions of these are recorded beside the enforced ones and change nothing. */
        shadowFiles: z.array(z.string().min(1)).default([]),
      })
      .strict()
      .default({}),
    /** Data contracts, one per dataset kind: checked by check_data_quality and by the trainer. */
    contracts: z
      .object({
        files: z.array(z.string().min(1)).min(1).default(defaultContractFiles),
      })
      .strict()
      .default({}),
    audit: z
      .object({
        /** `file` (default) or `postgres` (default when databaseUrl is set): where the chain is kept. */
        store: z.enum(['file', 'postgres']).optional(),
        /** Default: <home>/audit.jsonl */
        file: z.string().min(1).optional(),
        /** PostgreSQL schema of the audit tables (one chain per schema). */
        postgresSchema: z
          .string()
          .regex(/^[a-z_][a-z0-9_]{0,62}$/, 'a lowercase SQL name: letters, digits and "_", e.g. mlops_audit')
          .default('mlops_audit'),
        /** Ed25519 private key (PEM) that signs checkpoints; unset: checkpoints are unsigned and prove nothing. */
        signingKeyFile: z.string().min(1).optional(),
        /** Public keys (PEM) `audit verify` accepts, besides the signing key's own. */
        publicKeyFiles: z.array(z.string().min(1)).default([]),
        checkpoint: z
          .object({
            /** A checkpoint after this many appends by one process. */
            everyEntries: z.coerce.number().int().positive().default(1000),
            /** And at least this often while entries are appended (0: only by count and at shutdown). */
            everyMs: z.coerce.number().int().min(0).default(60_000),
            /** Each checkpoint is also POSTed here as JSON (a witness keeping copies elsewhere). */
            postUrl: z.string().url().optional(),
          })
          .strict()
          .default({}),
      })
      .strict()
      .default({}),
    /** `postgres://user:password@host:5432/db`: the audit chain in PostgreSQL, one for every process. */
    databaseUrl: z.string().url().optional(),
    qualityGates: qualityGatesSchema.default({}),
    /** The embedded lab's canary analysis; unset keys keep the lab's defaults. */
    lab: z
      .object({
        canary: z
          .object({
            /** Canary requests a step waits for before it is analysed (default 100). */
            minRequestsPerStep: z.number().int().positive().optional(),
            /** How long a step waits for them; a step without enough traffic pauses (default 5 min). */
            stepTimeoutMs: z.number().int().positive().optional(),
            /** How often a canary held at its authorised share is analysed again (default 60 s). */
            watchIntervalMs: z.number().int().positive().optional(),
            /** Traffic steps in percent, ending at 100 (default [1, 5, 25, 100]). */
            steps: z.array(z.number().int().min(1).max(100)).min(1).optional(),
          })
          .strict()
          .default({}),
      })
      .strict()
      .default({}),
    /** `mlops-agent serve`: the HTTP server (webhooks, chat, runs, MCP). */
    server: z
      .object({
        port: z.coerce.number().int().min(0).max(65535).default(8080),
        host: z.string().min(1).default('127.0.0.1'),
        /** Bearer tokens, the principal each acts as and what it may do; MLOPS_AGENT_API_TOKEN adds one for `user:operator` with every scope. */
        tokens: z
          .array(
            z
              .object({
                token: z.string().min(16, 'a token needs at least 16 characters'),
                principal: z.string().min(1),
                scopes: z
                  .array(z.enum(SCOPES), {
                    required_error: `required: list what this token may do, from ${SCOPES.join(', ')} (e.g. [alerts] for a monitor, [read, approve] for an approver)`,
                  })
                  .min(1, `give at least one of ${SCOPES.join(', ')}`),
              })
              .strict(),
          )
          .default([]),
        bodyLimitBytes: z
          .number()
          .int()
          .positive()
          .default(1024 * 1024),
        /** MCP over HTTP at /mcp. */
        mcp: z
          .object({
            /** Open sessions one principal may hold; more are refused until one closes or idles out. */
            sessionsPerPrincipal: z.number().int().min(1).max(1000).default(10),
            /** A session with no request for this long is closed. */
            idleTimeoutMs: z
              .number()
              .int()
              .min(1000)
              .default(5 * 60_000),
            /** Host header values /mcp answers besides loopback (localhost, 127.0.0.1, [::1]), e.g. mlops-agent.internal; against DNS rebinding. */
            allowedHosts: z.array(z.string().min(1)).default([]),
          })
          .strict()
          .default({}),
      })
      .strict()
      .default({}),
    /** `redis://host:port/db`: the BullMQ run queue and the Redis run store; unset means in-process. */
    redisUrl: z.string().url().optional(),
    queue: z
      .object({
        /** Prefix of every Redis key (queue, runs, schedules); several agents can share one Redis. */
        prefix: z
          .string()
          .regex(/^[A-Za-z0-9_-]{1,64}$/, 'letters, digits, "_" and "-"')
          .default('mlops'),
        /** Tries per run, counting the first; a run failing with a retryable error is tried again. */
        attempts: z.coerce.number().int().min(1).max(20).default(3),
        /** The first retry waits this long, each later one twice as long as the one before. */
        backoffMs: z.coerce.number().int().min(0).default(1000),
      })
      .strict()
      .default({}),
    /** Who executes queued runs: `serve`'s in-process worker, and `mlops-agent worker` processes. */
    worker: z
      .object({
        /** Runs one process executes at a time. */
        concurrency: z.coerce.number().int().min(1).max(64).default(2),
        /** `serve` executes runs itself; false leaves them to `mlops-agent worker` processes (needs redisUrl). */
        inProcess: z.boolean().default(true),
        /** On SIGTERM, how long active runs may take to finish before they are handed back. */
        shutdownGraceMs: z.coerce.number().int().min(0).default(20_000),
        /** With Redis: a run whose worker died is given to another after this long (BullMQ lock). */
        lockDurationMs: z.coerce.number().int().min(1000).default(30_000),
        /** With Redis: how many times a run may lose its worker (crash, kill) and be taken over before it is given up. */
        maxStalls: z.coerce.number().int().min(1).max(20).default(1),
        /** `mlops-agent worker` serves /metrics and /healthz on this port (same tokens as serve). */
        metricsPort: z.coerce.number().int().min(0).max(65535).optional(),
      })
      .strict()
      .default({}),
    schedules: z
      .array(scheduleSchema)
      .default([])
      .superRefine((list, ctx) => {
        const seen = new Set<string>();
        list.forEach((s, i) => {
          if (seen.has(s.name))
            ctx.addIssue({
              code: z.ZodIssueCode.custom,
              path: [i, 'name'],
              message: `schedule name "${s.name}" is used twice`,
            });
          seen.add(s.name);
        });
      }),
    /** Origins a browser page may call /mcp from. */
    mcpAllowedOrigins: z.array(z.string().min(1)).default([]),
    /** Where `mlops-agent approvals` finds a running `serve`, and the token it uses (its principal is the approver). */
    client: z
      .object({
        url: z.string().url().optional(),
        token: z.string().min(1).optional(),
      })
      .strict()
      .default({}),
    /** The Slack app: approval messages with buttons, and chat by mention or DM. Off when unset. */
    slack: slackSchema.optional(),
    /** Which adapter serves each port (registry, analysis, deployer, trainer); default the local lab. */
    backends: backendsSchema.default({}),
  })
  .strict()
  .superRefine((config, ctx) => {
    if (!config.worker.inProcess && !config.redisUrl) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ['worker', 'inProcess'],
        message: 'is false but redisUrl (REDIS_URL) is not set: without Redis only serve itself can execute runs',
      });
    }
    if (config.audit.store === 'postgres' && !config.databaseUrl) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ['audit', 'store'],
        message:
          'is postgres but databaseUrl (DATABASE_URL) is not set: set it to postgres://user:password@host:5432/db',
      });
    }
  });

type ParsedConfig = z.infer<typeof configSchema>;
export type Config = Omit<ParsedConfig, 'slack' | 'client'> & {
  slack?: SlackConfig;
  auditFile: string;
  /** Where the audit chain is kept: `audit.store`, else postgres when databaseUrl is set, else file. */
  auditStore: 'file' | 'postgres';
  configFile: string | null;
  client: { url: string; token?: string };
};

/** Environment variables and the config key each sets. */
const ENV_KEYS: Record<string, string[]> = {
  MLOPS_AGENT_HOME: ['home'],
  MLOPS_AGENT_LOG_LEVEL: ['logLevel'],
  MLOPS_AGENT_LLM: ['llm', 'provider'],
  GEMINI_API_KEY: ['llm', 'geminiApiKey'],
  GEMINI_MODEL: ['llm', 'geminiModel'],
  GEMINI_BASE_URL: ['llm', 'geminiBaseUrl'],
  GOOGLE_GENAI_USE_VERTEXAI: ['llm', 'vertexai'],
  GOOGLE_CLOUD_PROJECT: ['llm', 'vertexProject'],
  GOOGLE_CLOUD_LOCATION: ['llm', 'vertexLocation'],
  OPENAI_BASE_URL: ['llm', 'openaiBaseUrl'],
  OPENAI_API_KEY: ['llm', 'openaiApiKey'],
  OPENAI_MODEL: ['llm', 'openaiModel'],
  MLOPS_AGENT_AUDIT_FILE: ['audit', 'file'],
  MLOPS_AGENT_AUDIT_STORE: ['audit', 'store'],
  MLOPS_AGENT_AUDIT_SCHEMA: ['audit', 'postgresSchema'],
  MLOPS_AGENT_AUDIT_SIGNING_KEY: ['audit', 'signingKeyFile'],
  DATABASE_URL: ['databaseUrl'],
  PORT: ['server', 'port'],
  REDIS_URL: ['redisUrl'],
  MLOPS_AGENT_URL: ['client', 'url'],
  MLOPS_AGENT_TOKEN: ['client', 'token'],
  SLACK_BOT_TOKEN: ['slack', 'botToken'],
  SLACK_SIGNING_SECRET: ['slack', 'signingSecret'],
  SLACK_APPROVAL_CHANNEL: ['slack', 'approvalChannel'],
  SLACK_API_URL: ['slack', 'apiUrl'],
  MLOPS_AGENT_QUEUE_PREFIX: ['queue', 'prefix'],
  MLOPS_AGENT_WORKER_CONCURRENCY: ['worker', 'concurrency'],
  MLOPS_AGENT_METRICS_PORT: ['worker', 'metricsPort'],
  ...BACKENDS_ENV_KEYS,
};

function setPath(target: Record<string, unknown>, path: string[], value: unknown): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    if (typeof node[key] !== 'object' || node[key] === null) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[path[path.length - 1]!] = value;
}

export interface LoadConfigOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Explicit file (also MLOPS_AGENT_CONFIG); otherwise ./mlops-agent.yaml when present. */
  file?: string;
}

export function loadConfig(options: LoadConfigOptions = {}): Config {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
  const explicit = options.file ?? env.MLOPS_AGENT_CONFIG;
  const candidate = explicit ? resolve(cwd, explicit) : join(cwd, 'mlops-agent.yaml');
  let raw: Record<string, unknown> = {};
  let configFile: string | null = null;
  let lineOf: (path: readonly PropertyKey[]) => number | null = () => null;
  if (existsSync(candidate)) {
    configFile = candidate;
    const lines = new LineCounter();
    const doc = parseDocument(readFileSync(candidate, 'utf8'), { lineCounter: lines });
    if (doc.errors.length > 0) {
      const err = doc.errors[0]!;
      throw new UserError(`config file ${candidate} is not valid YAML: ${err.message}`, {
        code: 'config_invalid',
        cause: err,
      });
    }
    raw = (doc.toJS() ?? {}) as Record<string, unknown>;
    // The deepest key of an issue's path that the file holds: where the operator looks.
    lineOf = (path) => {
      for (let n = path.length; n > 0; n--) {
        const node = doc.getIn(path.slice(0, n) as unknown[], true) as { range?: [number, number, number] } | undefined;
        if (node?.range) return lines.linePos(node.range[0]).line;
      }
      return null;
    };
    if (typeof raw !== 'object' || Array.isArray(raw)) {
      throw new UserError(
        `config file ${candidate} must hold a mapping of keys, not ${Array.isArray(raw) ? 'a list' : typeof raw}`,
        { code: 'config_invalid' },
      );
    }
  } else if (explicit) {
    throw new UserError(
      `config file ${candidate} does not exist (set by ${options.file ? '--config' : 'MLOPS_AGENT_CONFIG'})`,
      { code: 'config_invalid' },
    );
  }
  for (const [name, path] of Object.entries(ENV_KEYS)) {
    const value = env[name];
    if (value !== undefined && value !== '') setPath(raw, path, value);
  }
  // SLACK_USERS="U0123ABC=user:alice,U0456DEF=user:bob" adds to (and overrides) slack.users.
  const slackUsers = env.SLACK_USERS;
  if (slackUsers !== undefined && slackUsers.trim() !== '') {
    const slack = (typeof raw.slack === 'object' && raw.slack !== null ? raw.slack : {}) as Record<string, unknown>;
    // A Map, not an object: an id like __proto__ must reach validation (and be refused), not set a prototype.
    const users = new Map(
      Object.entries(
        (typeof slack.users === 'object' && slack.users !== null ? slack.users : {}) as Record<string, unknown>,
      ),
    );
    for (const pair of slackUsers
      .split(',')
      .map((p) => p.trim())
      .filter(Boolean)) {
      const eq = pair.indexOf('=');
      if (eq <= 0 || eq === pair.length - 1) {
        throw new UserError(
          `invalid configuration:\n  slack.users (env SLACK_USERS): "${pair}" is not SLACKID=principal (e.g. U0123ABC=user:alice)`,
          { code: 'config_invalid' },
        );
      }
      users.set(pair.slice(0, eq).trim(), pair.slice(eq + 1).trim());
    }
    raw.slack = { ...slack, users: Object.fromEntries(users) };
  }
  const operatorToken = env.MLOPS_AGENT_API_TOKEN;
  if (operatorToken !== undefined && operatorToken !== '') {
    const server = (typeof raw.server === 'object' && raw.server !== null ? raw.server : {}) as Record<string, unknown>;
    const tokens = Array.isArray(server.tokens) ? server.tokens : [];
    // The quick start's token: one operator on one machine, allowed everything.
    raw.server = {
      ...server,
      tokens: [...tokens, { token: operatorToken, principal: 'user:operator', scopes: [...SCOPES] }],
    };
  }
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => {
      const key = issue.path.join('.') || '(root)';
      const fromEnv = Object.entries(ENV_KEYS).find(([, p]) => p.join('.') === key)?.[0];
      const line = fromEnv && env[fromEnv] ? null : lineOf(issue.path);
      return `  ${key}${fromEnv ? ` (env ${fromEnv})` : ''}: ${issue.message}${line && configFile ? ` (${configFile}:${line})` : ''}`;
    });
    throw new UserError(`invalid configuration${configFile ? ` in ${configFile}` : ''}:\n${lines.join('\n')}`, {
      code: 'config_invalid',
    });
  }
  // The env token, when set, was added last.
  const envIndex = operatorToken ? parsed.data.server.tokens.length - 1 : -1;
  const duplicates = duplicateTokenProblems(parsed.data.server.tokens, (i) =>
    i === envIndex ? 'env MLOPS_AGENT_API_TOKEN' : `server.tokens.${i}`,
  );
  if (duplicates.length > 0) {
    throw new UserError(
      `invalid configuration${configFile ? ` in ${configFile}` : ''}:\n${duplicates.map((d) => `  server.tokens: ${d}`).join('\n')}`,
      { code: 'config_invalid' },
    );
  }
  const { slack, ...config } = parsed.data;
  const home = isAbsolute(config.home) ? config.home : resolve(cwd, config.home);
  return {
    ...config,
    home,
    policy: {
      files: config.policy.files.map((f) => resolve(cwd, f)),
      shadowFiles: config.policy.shadowFiles.map((f) => resolve(cwd, f)),
    },
    contracts: { files: config.contracts.files.map((f) => resolve(cwd, f)) },
    auditFile: config.audit.file ? resolve(cwd, config.audit.file) : join(home, 'audit.jsonl'),
    auditStore: config.audit.store ?? (config.databaseUrl ? 'postgres' : 'file'),
    audit: {
      ...config.audit,
      ...(config.audit.signingKeyFile ? { signingKeyFile: resolve(cwd, config.audit.signingKeyFile) } : {}),
      publicKeyFiles: config.audit.publicKeyFiles.map((f) => resolve(cwd, f)),
    },
    client: {
      url: config.client.url ?? `http://127.0.0.1:${config.server.port}`,
      // The operator token serves a quick start on one machine: serve and the CLI share it.
      ...((config.client.token ?? operatorToken) ? { token: config.client.token ?? operatorToken } : {}),
    },
    configFile,
    ...(slack?.botToken && slack.signingSecret && slack.approvalChannel
      ? {
          slack: {
            botToken: slack.botToken,
            signingSecret: slack.signingSecret,
            approvalChannel: slack.approvalChannel,
            users: slack.users,
            ...(slack.apiUrl ? { apiUrl: slack.apiUrl } : {}),
          },
        }
      : {}),
  };
}
