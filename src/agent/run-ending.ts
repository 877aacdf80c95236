// How a run ends: its status from what the transcript shows (never from the planner's
// words), its summary, the flags on an answer that claims more, and the mitigation phase's
// own end. The loop calls these; each writes the audit log before it saves the run.
import type { AuditAppender } from '../gate/gate.js';
import type { PlannedEnd, PlannerTurn, TranscriptItem } from './planner.js';
import { endFromSummary, summarizeTranscript, unsupportedClaims } from './run-account.js';
import type { Run, RunFlag } from './run.js';
import type { RunStore } from './run-store.js';

export interface RunEndingDeps {
  audit: AuditAppender;
  runs: RunStore;
  /** Appends to the transcript and saves the run (the loop's). */
  push(run: Run, item: TranscriptItem): Promise<void>;
  isReadOnly(tool: string): boolean;
  iso(): string;
}

export function createRunEnding(deps: RunEndingDeps) {
  const { audit, runs, push, isReadOnly, iso } = deps;

  async function finish(
    run: Run,
    status: Run['status'],
    fields: { answer?: string; error?: string | null; flags?: RunFlag[] },
  ): Promise<Run> {
    run.status = status;
    run.answer = fields.answer ?? run.answer;
    run.error = fields.error === undefined ? run.error : fields.error;
    run.endedAt = iso();
    // What the transcript shows, whatever any answer says.
    run.summary = summarizeTranscript(run.transcript, isReadOnly);
    if (fields.flags?.length) run.flags = [...(run.flags ?? []), ...fields.flags];
    // The record comes first: the end is durable in the audit log before a stored run shows it.
    if (fields.flags?.length) {
      await audit.append({
        runId: run.id,
        principal: run.trigger.principal.id,
        kind: 'run.flagged',
        data: { flags: fields.flags, summary: run.summary.text },
      });
    }
    await audit.append({
      runId: run.id,
      principal: run.trigger.principal.id,
      kind: 'run.finished',
      data: {
        status,
        answer: run.answer,
        error: run.error,
        steps: run.steps,
        usage: run.usage,
        planner: run.planner,
        summary: run.summary.text,
        flags: run.flags?.length ?? 0,
      },
    });
    if (fields.answer) await push(run, { kind: 'answer', text: fields.answer });
    else if (fields.error) await push(run, { kind: 'note', text: fields.error });
    if (fields.flags?.length) {
      const claims = fields.flags.map((f) => `"${f.sentence}"`).join('; ');
      await push(run, {
        kind: 'note',
        text: `Flagged: the answer claims what this run's transcript does not show (${claims}). What the transcript shows: ${run.summary.text}`,
      });
    }
    await runs.save(run);
    return run;
  }

  /**
   * The planner's final answer ends the run with the status the transcript supports: a
   * failed step, a refusal, or a runbook that could not go on is never `succeeded`. An
   * LLM's answer is checked against the transcript, and claims it cannot back are flagged.
   */
  async function conclude(run: Run, turn: Extract<PlannerTurn, { kind: 'answer' }>): Promise<Run> {
    const summary = summarizeTranscript(run.transcript, isReadOnly);
    const mitigation = run.mitigation && run.mitigation.status !== 'done' ? run.mitigation.status : undefined;
    const flags = turn.ends ? [] : unsupportedClaims(turn.text, run.transcript);
    let { status, reason } = endFromSummary(summary, turn.ends, mitigation);
    // A run is not `succeeded` on an answer nobody can take at its word: one claiming what the
    // transcript does not show, or none at all (the planner stopped mid-way). A person reads it.
    if (status === 'succeeded' && flags.length > 0) {
      status = 'needs_attention';
      reason = `the answer claims what this run did not do (${[...new Set(flags.map((f) => f.claim))].join(', ')}); what it did: ${summary.text}`;
    } else if (status === 'succeeded' && !turn.ends && turn.text.trim() === '') {
      status = 'needs_attention';
      reason = `the planner stopped without an answer; what the run did: ${summary.text}`;
    }
    const firstLine = turn.text.split('\n')[0] ?? turn.text;
    const error =
      status === 'succeeded'
        ? null
        : (reason ??
          (mitigation ? `the mitigation did not complete: ${run.mitigation!.text.split('\n')[0]}` : firstLine));
    return finish(run, status, { answer: turn.text, error, flags });
  }

  /** The mitigation steps are through: recorded on the run, audited, and told to the planner that goes on. */
  async function mitigated(run: Run, runbook: string, turn: Extract<PlannerTurn, { kind: 'answer' }>): Promise<void> {
    const ends: PlannedEnd = turn.ends ?? 'succeeded';
    run.mitigation = { runbook, status: ends === 'succeeded' ? 'done' : ends, text: turn.text };
    await audit.append({
      runId: run.id,
      principal: run.trigger.principal.id,
      kind: 'run.mitigated',
      data: { runbook, status: run.mitigation.status, text: turn.text },
    });
    // The runbook's step lines, without its headline: what each mitigation step did.
    const steps = turn.text.split('\n').slice(1).join('\n') || turn.text;
    await push(run, {
      kind: 'note',
      text: `Mitigation first (runbook ${runbook}, ${run.mitigation.status}), before any other planning:\n${steps}\nInvestigate and report; a call that would undo this mitigation (put a version it took off traffic back on) is refused in this run.`,
    });
  }

  return { finish, conclude, mitigated };
}
