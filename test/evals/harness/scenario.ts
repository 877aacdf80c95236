// One eval scenario, as a YAML file in test/evals/: the lab it starts from, what happens
// (alerts, chat, MCP calls, approvals, time passing, a crash), which planners it grades,
// and what must be true at the end. Read strictly: a typo in a scenario is an error that
// names the file and the field, never a silently skipped assertion.
import { readFile, readdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { parse } from 'yaml';
import { z } from 'zod';

/** The planners a scenario can be graded with; `llm` stands for gemini and openai alike. */
export const PLANNER_KINDS = ['runbook', 'scripted', 'llm'] as const;
export type PlannerKind = (typeof PLANNER_KINDS)[number];

const labels = z.record(z.string(), z.string());

const alert = z
  .object({
    status: z.enum(['firing', 'resolved']).default('firing'),
    labels,
    annotations: labels.default({}),
  })
  .strict();

/** An Alertmanager webhook (v4) posted to the agent's HTTP server. */
const alertmanagerStep = z
  .object({
    alertmanager: z
      .object({
        status: z.enum(['firing', 'resolved']).default('firing'),
        alerts: z.array(alert).min(1),
        /** Post the same payload this many times (an alert storm, Alertmanager's repeats). */
        times: z.number().int().min(1).max(200).default(1),
        /** Wait for the runs it started or joined to settle before the next step (default true). */
        settle: z.boolean().default(true),
      })
      .strict(),
  })
  .strict();

const chatStep = z.object({ chat: z.object({ as: z.string().min(1), text: z.string().min(1) }).strict() }).strict();

const scheduleStep = z
  .object({
    schedule: z
      .object({ name: z.string().min(1), runbook: z.string().min(1), task: z.string().min(1), labels })
      .strict(),
  })
  .strict();

/** A tool called by an MCP client through the real MCP server (not an agent run). */
const mcpStep = z
  .object({
    mcp: z
      .object({ client: z.string().min(1), tool: z.string().min(1), args: z.record(z.string(), z.unknown()) })
      .strict(),
  })
  .strict();

/** Votes on every pending approval, through the approvals service, then resumes the runs waiting on them. */
const approveStep = z
  .object({
    approve: z.object({ as: z.string().min(1), verdict: z.enum(['grant', 'deny']).default('grant') }).strict(),
  })
  .strict();

/** Moves the harness clock on (e.g. `5h`), expires what is due and resumes the runs it touches. */
const advanceStep = z.object({ advance: z.string().regex(/^\d+[smh]$/, 'a duration like 30s, 10m or 5h') }).strict();

/**
 * The process dies right after the named tool's side effect reached its backend and before
 * the gate recorded its end; a fresh runtime on the same home then resumes the run.
 */
const crashStep = z.object({ crash_during: z.enum(['deploy_canary', 'rollback', 'trigger_retrain']) }).strict();

/** Waits until the named tool's side effect has started (to send something while it goes on). */
const waitForStep = z.object({ waitFor: z.enum(['deploy_canary', 'rollback', 'trigger_retrain']) }).strict();

export const stepSchema = z.union([
  alertmanagerStep,
  chatStep,
  scheduleStep,
  mcpStep,
  approveStep,
  advanceStep,
  crashStep,
  waitForStep,
]);
export type Step = z.infer<typeof stepSchema>;

const creditDataset = z
  .object({
    kind: z.literal('credit'),
    name: z.string().regex(/^credit-[a-z0-9-]+$/),
    rows: z.number().int().min(50).max(20_000).default(1500),
    seed: z.number().int().default(7),
    /** The data's dates end this many days ago (the contract wants fresh data). */
    daysAgo: z.number().int().min(0).default(1),
    days: z.number().int().min(1).default(30),
    /** The population moved: incomes fall, utilisation rises, the risk relations shift. */
    drift: z.boolean().default(false),
    faults: z
      .object({
        /** A share of rows with no income. */
        missingIncomeRate: z.number().min(0).max(1).optional(),
        incomeUnit: z.enum(['usd', 'kusd']).optional(),
      })
      .strict()
      .default({}),
  })
  .strict();

const quotesDataset = z
  .object({
    kind: z.literal('quotes'),
    name: z.string().regex(/^quotes-[a-z0-9-]+$/),
    seed: z.number().int().default(7),
    minutes: z.number().int().min(1).max(120).default(10),
    faults: z
      .object({
        missingRate: z.number().min(0).max(1).optional(),
        crossed: z
          .object({ fromMinute: z.number().int(), minutes: z.number().int(), perMinute: z.number().int() })
          .strict()
          .optional(),
      })
      .strict()
      .default({}),
  })
  .strict();

const version = z
  .object({
    /** The registry numbers versions in order: v1 is the seeded champion, these are 2, 3, ... */
    version: z.string().regex(/^\d+$/),
    /** Its artifact lost its weights: every request it serves fails. */
    broken: z.boolean().default(false),
    /** A quality gate it failed, e.g. auc. */
    failsGate: z.enum(['auc', 'calibration_error', 'p99_latency_ms', 'parity_gap']).optional(),
    /** Registered with no evaluation at all: no metrics, no quality gates measured. */
    evaluated: z.boolean().default(true),
  })
  .strict();

const labSchema = z
  .object({
    versions: z.array(version).default([]),
    /** A canary of one of the versions, held at `percent` of production. */
    canary: z
      .object({ version: z.string(), percent: z.number().min(1).max(99) })
      .strict()
      .optional(),
    datasets: z.array(z.discriminatedUnion('kind', [creditDataset, quotesDataset])).default([]),
    /** Live requests (with outcome labels) to production at this rate while the scenario runs, drawn from this credit dataset. */
    traffic: z
      .object({ dataset: z.string(), perSecond: z.number().int().min(1).max(1000).default(400) })
      .strict()
      .optional(),
    /** Calls already waiting for people when the scenario starts, requested by `as`. */
    pendingApprovals: z
      .array(
        z.object({ as: z.string().min(1), tool: z.string().min(1), args: z.record(z.string(), z.unknown()) }).strict(),
      )
      .default([]),
  })
  .strict()
  .default({});

const refusal = z.object({ tool: z.string().min(1), rule: z.string().min(1) }).strict();

const expectSchema = z
  .object({
    /** The status every run of the scenario ends in (or is parked in). */
    status: z.enum(['succeeded', 'failed', 'refused', 'needs_attention', 'waiting_approval', 'waiting']).optional(),
    /** How many runs the scenario's triggers started. */
    runs: z.number().int().min(0).optional(),
    /** Tools that executed (through the gate) at least once. */
    called: z.array(z.string()).default([]),
    /** Tools that never executed. */
    notCalled: z.array(z.string()).default([]),
    /** Calls refused, and the rule that refused each. */
    refused: z.array(refusal).default([]),
    /** Tools whose calls were parked for approval. */
    approvalsRequested: z.array(z.string()).optional(),
    /** Approvals that ended in this status. */
    approvals: z
      .array(
        z.object({ tool: z.string(), status: z.enum(['pending', 'granted', 'denied', 'expired', 'moot']) }).strict(),
      )
      .default([]),
    /** A vote the approvals service refused, by its code (e.g. self_approval). */
    voteRefused: z.string().optional(),
    /** Production at the end. */
    split: z
      .object({ stable: z.string(), canary: z.string().nullable(), canaryPercent: z.number().optional() })
      .strict()
      .optional(),
    aliases: z.record(z.string(), z.string()).default({}),
    /** Words the run's final answer (or the MCP result) must contain, case-insensitive. */
    says: z.array(z.string()).default([]),
    /** The MCP call's result: isError or not, and its noop flag. */
    mcp: z.object({ isError: z.boolean(), noop: z.boolean().optional() }).strict().optional(),
    /** Only read-only tools executed. */
    readOnly: z.boolean().default(false),
  })
  .strict();

export const scenarioSchema = z
  .object({
    title: z.string().min(1),
    /** Which planners grade it; `scripted` needs `script`. */
    planners: z.array(z.enum(PLANNER_KINDS)).min(1),
    /** The scripted planner's name (harness/planners.ts): a careful engineer's script or a hostile one. */
    script: z.string().optional(),
    lab: labSchema,
    steps: z.array(stepSchema).min(1),
    expect: expectSchema,
    /** What differs for one planner (keys replace those of `expect`). */
    expectFor: z.record(z.enum(PLANNER_KINDS), expectSchema.partial()).default({}),
  })
  .strict()
  .refine((s) => !s.planners.includes('scripted') || s.script !== undefined, {
    message: 'planners lists scripted, so script must name a scripted planner',
  });

export type Scenario = z.infer<typeof scenarioSchema> & { name: string; file: string };
export type Expectations = z.infer<typeof expectSchema>;

/** The expectations for one planner: `expect`, with that planner's `expectFor` keys laid over. */
export function expectationsFor(s: Scenario, planner: PlannerKind): Expectations {
  const over = Object.fromEntries(Object.entries(s.expectFor[planner] ?? {}).filter(([, v]) => v !== undefined));
  return { ...s.expect, ...over };
}

export async function loadScenario(file: string): Promise<Scenario> {
  let raw: unknown;
  try {
    raw = parse(await readFile(file, 'utf8'));
  } catch (err) {
    throw new Error(`${file}: not valid YAML: ${(err as Error).message}`);
  }
  const parsed = scenarioSchema.safeParse(raw);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(top)'}: ${i.message}`).join('; ');
    throw new Error(`${file}: not a valid scenario: ${issues}`);
  }
  return { ...parsed.data, name: basename(file).replace(/\.ya?ml$/, ''), file };
}

export async function loadScenarios(dir: string): Promise<Scenario[]> {
  const files = (await readdir(dir)).filter((f) => /\.ya?ml$/.test(f)).sort();
  return Promise.all(files.map((f) => loadScenario(join(dir, f))));
}
