// Prints a run as it happens: the plan, each tool call with the gate's decision, and the
// answer, in lines an operator can read during an incident.
import type { CallOutcomeForPlanner, TranscriptItem } from '../agent/planner.js';
import type { Run } from '../agent/run.js';
import { readableSkips } from './output/skipped-steps.js';
import { colorOn, dim, status } from './output/style.js';
import { terminalSafe as safe, terminalSafeLines } from './terminal-safe.js';

const STATUS_MARK: Record<string, string> = {
  executed: 'ok',
  refused: 'REFUSED',
  invalid: 'INVALID',
  not_found: 'NOT FOUND',
  pending_approval: 'NEEDS APPROVAL',
  failed: 'FAILED',
  waiting: 'WAITING',
};

function mark(o: CallOutcomeForPlanner): string {
  if (o.status === 'invalid' && o.code === 'not_found') return STATUS_MARK.not_found!;
  if (o.status === 'executed' && (o.output as { noop?: unknown } | null)?.noop === true) return 'NO-OP';
  return safe(STATUS_MARK[o.status] ?? o.status);
}

function clock(iso: string): string {
  return iso.slice(11, 19);
}

function oneLine(value: unknown, max = 140): string {
  const text = safe(typeof value === 'string' ? value : (JSON.stringify(value) ?? String(value)));
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

function outcomeDetail(o: CallOutcomeForPlanner): string {
  switch (o.status) {
    case 'executed':
      return o.summary;
    case 'refused':
      return `${o.reason}${o.ruleId ? ` [rule ${o.ruleId}]` : ''}`;
    case 'pending_approval':
      return `${o.reason}${o.approvalId ? ` [approval ${o.approvalId}]` : ''}`;
    case 'invalid':
      return o.code === 'not_found' ? `not found: ${o.error}` : o.error;
    case 'failed':
      return o.error;
    case 'waiting':
      return `${o.summary}; the run waits for it (until ${o.deadline})`;
  }
}

function duration(ms: number): string {
  return ms < 60_000 ? `${(ms / 1000).toFixed(1)} s` : `${(ms / 60_000).toFixed(1)} min`;
}

/**
 * `at` is when the item happened; stored transcripts carry no time, so `runs show` passes
 * null. Every field that came from outside is escaped (terminal-safe.ts): one item, one
 * line, except an answer, whose own lines are indented under it.
 */
export function formatTranscriptItem(item: TranscriptItem, at: string | null): string {
  const time = at ? dim(clock(at)) : '        ';
  /** A label column: a status (symbol and colour on a terminal) or a plain word, aligned either way. */
  const col = (text: string, key?: string) =>
    key !== undefined ? status(key, text.padEnd(8)) : `${colorOn ? '  ' : ''}${text.padEnd(8)}`;
  const markCol = (o: CallOutcomeForPlanner) => {
    const text = mark(o);
    return col(text, text);
  };
  switch (item.kind) {
    case 'trigger':
      return `${time}  ${col(safe(item.trigger.toUpperCase()))}  ${safe(item.text)}`;
    case 'plan': {
      const lines = item.text ? [`${time}  ${col(item.mitigation ? 'MITIGATE' : 'plan')}  ${safe(item.text)}`] : [];
      for (const call of item.calls)
        lines.push(`${time}  ${col('call')}  ${safe(call.name)} ${dim(oneLine(call.args))}`);
      return lines.join('\n');
    }
    case 'result':
      return `${time}  ${markCol(item.outcome)}  ${safe(item.name)}: ${safe(outcomeDetail(item.outcome))}`;
    case 'approval':
      return [
        `${time}  ${col(safe(item.status.toUpperCase()), item.status)}  ${safe(item.name)}: approval ${safe(item.approvalId)} ${safe(item.resolution)}`,
        `${time}  ${markCol(item.outcome)}  ${safe(item.name)}: ${safe(outcomeDetail(item.outcome))}`,
      ].join('\n');
    case 'wait':
      return `${time}  ${markCol(item.outcome)}  ${safe(item.name)}: ${safe(outcomeDetail(item.outcome))} (after ${duration(item.waitedMs)})`;
    case 'note':
      return `${time}  ${col('note')}  ${safe(item.text)}`;
    case 'answer':
      return `${time}  ${col('answer')}  ${terminalSafeLines(readableSkips(item.text), colorOn ? '                      ' : '                    ')}`;
  }
}

export function formatRunSummary(run: Run): string {
  const tokens = run.usage.input + run.usage.output;
  const lines = [
    `run ${safe(run.id)} ${status(run.status)} after ${run.steps} step(s) with ${safe(run.planner)}${run.fallback ? ` (fell back from ${safe(run.fallback.from)})` : ''}; tokens: ${tokens} (${run.usage.input} in, ${run.usage.output} out)`,
  ];
  // What the transcript shows, beside whatever the answer says; and why it is not `succeeded`.
  if (run.summary) lines.push(`  did     ${safe(run.summary.text)}`);
  if (run.error && run.status !== 'succeeded') lines.push(`  why     ${oneLine(run.error, 400)}`);
  for (const flag of run.flags ?? [])
    lines.push(`  ${status('flag', 'FLAG')}    ${safe(flag.reason)}: "${oneLine(flag.sentence, 200)}"`);
  return lines.join('\n');
}
