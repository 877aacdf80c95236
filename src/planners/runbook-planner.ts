// The runbook planner: deterministic steps from a runbook. It keeps no state of its own:
// each turn it replays the run's transcript to see which steps are done, so a run
// resumed after a restart or an approval continues at the right step.
import { isCelError, run as runCel } from '@bufbuild/cel';
import type {
  CallOutcomeForPlanner,
  PlannedEnd,
  Planner,
  PlannerInput,
  PlannerTurn,
  TranscriptItem,
} from '../agent/planner.js';
import { isStopStep, type Runbook, type RunbookStep } from '../runbooks/runbook.js';

interface StepState {
  status: 'skipped' | CallOutcomeForPlanner['status'];
  output: unknown;
  summary: string;
}

const NO_USAGE = { input: 0, output: 0 };
const WHOLE_TEMPLATE = /^\{\{\s*([\s\S]+?)\s*\}\}$/;
const TEMPLATE = /\{\{\s*([\s\S]+?)\s*\}\}/g;

function stepTag(runbook: Runbook, step: Pick<RunbookStep, 'id'>): string {
  return `[runbook ${runbook.id} step ${step.id}]`;
}

/** Evaluates a CEL expression; anything but the expected kind of value is an error. */
function evaluate(expr: string, context: Record<string, unknown>): unknown {
  let value: unknown;
  try {
    value = runCel(expr, context as never);
  } catch (err) {
    throw new Error(`${expr}: ${(err as Error).message}`);
  }
  if (isCelError(value)) throw new Error(`${expr}: ${value.message}`);
  return typeof value === 'bigint' ? Number(value) : value;
}

function render(value: unknown, context: Record<string, unknown>): unknown {
  if (typeof value === 'string') {
    const whole = WHOLE_TEMPLATE.exec(value);
    if (whole) return scalar(whole[1]!, evaluate(whole[1]!, context));
    return value.replace(TEMPLATE, (_, expr: string) => String(scalar(expr, evaluate(expr, context))));
  }
  if (Array.isArray(value)) return value.map((v) => render(v, context));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, render(v, context)]));
  }
  return value;
}

function scalar(expr: string, value: unknown): string | number | boolean {
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return value;
  throw new Error(`${expr} gives a ${value === null ? 'null' : typeof value}, not a string, number or boolean`);
}

/**
 * The latest outcome of a call: a call that waited for approval ends with the approval's,
 * a long-running call with its `wait` item's.
 */
function outcomeOf(transcript: TranscriptItem[], callId: string): CallOutcomeForPlanner | undefined {
  let found: CallOutcomeForPlanner | undefined;
  for (const item of transcript)
    if ((item.kind === 'result' || item.kind === 'approval' || item.kind === 'wait') && item.callId === callId)
      found = item.outcome;
  return found;
}

function describeOutcome(o: CallOutcomeForPlanner): string {
  switch (o.status) {
    case 'executed':
      return o.summary;
    case 'refused':
      return `refused by policy${o.ruleId ? ` (rule ${o.ruleId})` : ''}: ${o.reason}`;
    case 'invalid':
      return o.code === 'not_found' ? `not found: ${o.error}` : `invalid call: ${o.error}`;
    case 'pending_approval':
      return `waiting for approval: ${o.reason}`;
    case 'failed':
      return `failed: ${o.error}`;
    case 'waiting':
      return `still under way: ${o.summary}`;
  }
}

/** How a step that did not execute ends the run it stops. */
function endOfStopped(o: CallOutcomeForPlanner): PlannedEnd {
  switch (o.status) {
    case 'refused':
      return 'refused';
    case 'failed':
    case 'invalid':
      return 'failed';
    default:
      // Waiting for people nobody was asked, or work nobody follows: a person has to look.
      return 'needs_attention';
  }
}

/**
 * What earlier steps found that a person must act on: the data contract's broken rules
 * (with where each is written and how many rows break it), then alert-level findings.
 */
function findingsOf(steps: Record<string, StepState>, limit = 10): string[] {
  const lines: string[] = [];
  for (const [id, state] of Object.entries(steps)) {
    const output = state.output as { findings?: unknown; violations?: unknown } | null;
    const violations = Array.isArray(output?.violations)
      ? (output.violations as { rule?: unknown; severity?: unknown; message?: unknown; source?: unknown }[])
      : [];
    for (const v of violations) {
      if (lines.length >= limit) break;
      lines.push(`  - ${id}: ${String(v.severity)} rule ${String(v.rule)} (${String(v.source)}): ${String(v.message)}`);
    }
    const findings = Array.isArray(output?.findings)
      ? (output.findings as { severity?: unknown; check?: unknown; column?: unknown; message?: unknown }[])
      : [];
    for (const f of findings) {
      if (f.severity !== 'alert' || lines.length >= limit) continue;
      lines.push(
        `  - ${id}: ${String(f.check)}${typeof f.column === 'string' ? `(${f.column})` : ''}: ${String(f.message)}`,
      );
    }
  }
  return lines;
}

export function createRunbookPlanner(runbook: Runbook, options: { name?: string } = {}): Planner {
  return {
    name: options.name ?? `runbook:${runbook.id}`,
    async next({ transcript }: PlannerInput): Promise<PlannerTurn> {
      const trigger = transcript.find((i) => i.kind === 'trigger');
      const data = trigger?.kind === 'trigger' && trigger.data && typeof trigger.data === 'object' ? trigger.data : {};
      const steps: Record<string, StepState> = {};
      // `alert` and `schedule` both name the trigger's data, so a runbook reads as its trigger does.
      const context = {
        trigger: {
          kind: trigger?.kind === 'trigger' ? trigger.trigger : 'unknown',
          text: trigger?.kind === 'trigger' ? trigger.text : '',
        },
        alert: data,
        schedule: data,
        steps,
      };
      const lines: string[] = [];
      const answer = (ends: PlannedEnd, headline: string, extra: string[] = []): PlannerTurn => ({
        kind: 'answer',
        text: [headline, ...lines, ...extra].join('\n'),
        usage: NO_USAGE,
        ends,
      });

      for (const step of runbook.steps) {
        if (step.when) {
          let go: unknown;
          try {
            go = evaluate(step.when, context);
          } catch (err) {
            return answer(
              'needs_attention',
              `Runbook ${runbook.id} stopped before step ${step.id}: its condition could not be evaluated (${(err as Error).message}). Nothing further was done.`,
            );
          }
          if (go !== true && go !== false)
            return answer(
              'needs_attention',
              `Runbook ${runbook.id} stopped before step ${step.id}: its condition gave ${String(go)}, not true or false.`,
            );
          if (!go) {
            steps[step.id] = { status: 'skipped', output: null, summary: 'skipped' };
            lines.push(`- ${step.id}: skipped (${step.when} is false)`);
            continue;
          }
        }
        if (isStopStep(step)) {
          const findings = findingsOf(steps);
          return answer(
            'needs_attention',
            `Runbook ${runbook.id} (${runbook.title}) stopped at step ${step.id} for a person: ${step.says}`,
            findings.length ? ['Findings:', ...findings] : [],
          );
        }
        const tag = stepTag(runbook, step);
        const planned = transcript.find((i) => i.kind === 'plan' && i.text?.startsWith(tag));
        const call = planned?.kind === 'plan' ? planned.calls[0] : undefined;
        if (!call) {
          let args: unknown;
          try {
            args = render(step.args, context);
          } catch (err) {
            return answer(
              'needs_attention',
              `Runbook ${runbook.id} cannot run step ${step.id}: ${(err as Error).message}. Nothing further was done.`,
            );
          }
          return { kind: 'calls', text: `${tag} ${step.says}`, calls: [{ name: step.tool, args }], usage: NO_USAGE };
        }
        const outcome = outcomeOf(transcript, call.id);
        if (!outcome)
          return answer(
            'needs_attention',
            `Runbook ${runbook.id}: step ${step.id} has no recorded result; stopping rather than repeat it.`,
          );
        steps[step.id] = {
          status: outcome.status,
          output: outcome.status === 'executed' ? outcome.output : null,
          summary: describeOutcome(outcome),
        };
        lines.push(`- ${step.id} (${step.tool}): ${describeOutcome(outcome)}`);
        if (outcome.status !== 'executed' && step.onFailure === 'stop') {
          return answer(endOfStopped(outcome), `Runbook ${runbook.id} (${runbook.title}) stopped at step ${step.id}:`);
        }
      }
      return answer('succeeded', `Runbook ${runbook.id} (${runbook.title}) completed:`);
    },
  };
}
