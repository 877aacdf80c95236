// Runbooks: markdown files in prompts/runbooks with YAML front matter naming the alerts
// they answer and their steps. The body is guidance the LLM receives too.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse as parseCel } from '@bufbuild/cel';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { UserError } from '../errors.js';
import { parseDuration } from '../policy/index.js';

const stepId = z.string().regex(/^[a-z][a-z0-9_]*$/, 'step ids are lowercase words joined by "_", e.g. retrain');

/** A step that calls a tool. */
const toolStepSchema = z
  .object({
    id: stepId,
    tool: z.string().min(1),
    /** Why this step, shown in the plan. */
    says: z.string().min(1),
    /** Arguments; `{{ path }}` takes a value from the trigger or an earlier step. */
    args: z.record(z.unknown()).default({}),
    /** CEL over `trigger`, `alert` (or `schedule`) and `steps`; the step is skipped when false. */
    when: z.string().min(1).optional(),
    /** What to do when the call does not execute: stop the runbook (default) or go on. */
    onFailure: z.enum(['stop', 'continue']).default('stop'),
    /**
     * A mitigation (stop the damage first, e.g. a rollback): for an alert, it runs through the
     * gate before any LLM planning, and the rest of the run may not undo it.
     */
    mitigation: z.boolean().default(false),
  })
  .strict();

/** A step that ends the run for a person: its `says` and the findings so far are the answer. */
const stopStepSchema = z
  .object({
    id: stepId,
    stop: z.literal('needs_attention'),
    says: z.string().min(1),
    /** CEL as for tool steps; without it the runbook always stops here. */
    when: z.string().min(1).optional(),
  })
  .strict();

const stepSchema = z.union([toolStepSchema, stopStepSchema]);

const frontMatterSchema = z
  .object({
    id: z.string().regex(/^[a-z][a-z0-9-]*$/),
    title: z.string().min(1),
    /** Alert names (the `alertname` label) this runbook answers. */
    alerts: z.array(z.string().min(1)).default([]),
    /**
     * How long an incident this runbook answered stays handled while its alerts keep
     * firing: after it, the next notification starts a new run to look again (e.g. "4h").
     * Absent: until its alerts resolve (repeat notifications start nothing).
     */
    recheckAfter: z
      .string()
      .refine((d) => 'ms' in parseDuration(d), 'a duration like "30m", "4h" or "1d" (at most 30d)')
      .optional(),
    steps: z.array(stepSchema).min(1),
  })
  .strict();

export type RunbookStep = z.infer<typeof stepSchema>;
export type RunbookToolStep = z.infer<typeof toolStepSchema>;
export type RunbookStopStep = z.infer<typeof stopStepSchema>;

export function isStopStep(step: RunbookStep): step is RunbookStopStep {
  return 'stop' in step;
}
export interface Runbook extends z.infer<typeof frontMatterSchema> {
  file: string;
  guidance: string;
}

const FRONT_MATTER = /^---\r?\n([\s\S]*?)\r?\n---\r?\n?([\s\S]*)$/;

export function parseRunbook(text: string, file: string, knownTools: readonly string[]): Runbook {
  const match = FRONT_MATTER.exec(text);
  if (!match)
    throw new UserError(`${file}: a runbook starts with YAML front matter between two "---" lines`, {
      code: 'input_invalid',
    });
  let raw: unknown;
  try {
    raw = parseYaml(match[1]!);
  } catch (err) {
    throw new UserError(`${file}: front matter is not valid YAML: ${(err as Error).message}`, { cause: err });
  }
  const parsed = frontMatterSchema.safeParse(raw);
  if (!parsed.success) {
    const issues = parsed.error.issues.flatMap(describeIssue);
    throw new UserError(`${file}: invalid runbook:\n  ${issues.join('\n  ')}`);
  }
  const seen = new Set<string>();
  for (const step of parsed.data.steps) {
    if (seen.has(step.id)) throw new UserError(`${file}: step id "${step.id}" is used twice`);
    seen.add(step.id);
    if (isStopStep(step)) {
      // A later step could never run after a stop that always stops.
      if (!step.when && step !== parsed.data.steps.at(-1))
        throw new UserError(
          `${file}: step "${step.id}" stops the runbook unconditionally, so the steps after it can never run; give it a "when" or make it the last step`,
        );
    } else if (!knownTools.includes(step.tool)) {
      throw new UserError(
        `${file}: step "${step.id}" names unknown tool "${step.tool}" (known: ${knownTools.join(', ')})`,
      );
    }
    if (step.when) {
      try {
        parseCel(step.when);
      } catch (err) {
        throw new UserError(`${file}: step "${step.id}": "when" is not valid CEL: ${(err as Error).message}`, {
          cause: err,
        });
      }
    }
  }
  return { ...parsed.data, file, guidance: match[2]!.trim() };
}

/** A step is a tool step or a stop step: say what is wrong with it as the one it most looks like. */
function describeIssue(issue: z.ZodIssue): string[] {
  if (issue.code === 'invalid_union') {
    const stepLike =
      issue.unionErrors.find(
        (e) =>
          !e.issues.some((i) => i.code === 'unrecognized_keys' && (i.keys.includes('stop') || i.keys.includes('tool'))),
      ) ?? issue.unionErrors[0];
    const inner = stepLike?.issues ?? [];
    if (inner.length > 0) return inner.flatMap((i) => describeIssue({ ...i, path: [...issue.path, ...i.path] }));
  }
  return [`${issue.path.join('.') || '(front matter)'}: ${issue.message}`];
}

/** Runbooks with mitigation steps, reduced to them: what runs first for an alert they answer. */
export function mitigationSteps(runbook: Runbook): Runbook | null {
  const steps = runbook.steps.filter((s) => !isStopStep(s) && s.mitigation);
  return steps.length > 0 ? { ...runbook, steps } : null;
}

export async function loadRunbooks(dir: string, knownTools: readonly string[]): Promise<Runbook[]> {
  const names = (await readdir(dir)).filter((n) => n.endsWith('.md')).sort();
  const runbooks: Runbook[] = [];
  for (const name of names) {
    const file = join(dir, name);
    runbooks.push(parseRunbook(await readFile(file, 'utf8'), file, knownTools));
  }
  const ids = new Set<string>();
  for (const rb of runbooks) {
    if (ids.has(rb.id)) throw new UserError(`${rb.file}: runbook id "${rb.id}" is used by another runbook in ${dir}`);
    ids.add(rb.id);
  }
  return runbooks;
}

/** The re-check interval of the runbook answering `alertName`, in ms, or null: handled until its alerts resolve. */
export function recheckAfterMs(runbooks: readonly Runbook[], alertName: string | undefined): number | null {
  const every = runbookFor(runbooks, alertName)?.recheckAfter;
  if (!every) return null;
  const parsed = parseDuration(every);
  return 'ms' in parsed ? parsed.ms : null;
}

export function runbookFor(runbooks: readonly Runbook[], alertName: string | undefined): Runbook | undefined {
  if (!alertName) return undefined;
  return runbooks.find((rb) => rb.alerts.includes(alertName));
}
