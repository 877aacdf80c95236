// Prints a run as it happens: the plan, each tool call with the gate's decision, and the
// answer, in lines an operator can read during an incident.
import type { CallOutcomeForPlanner, TranscriptItem } from '../agent/planner.js';
import type { Run } from '../agent/run.js';
import { terminalSafe as safe, terminalSafeLines } from './terminal-safe.js';

const STATUS_MARK: Record<string, string> = {
  executed: 'ok',
  refused: 'REFUSED',
  invalid: 'INVALID',
  pending_approval: 'NEEDS APPROVAL',
  failed: 'FAILED',
  waiting: 'WAITING',
};

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
    case 'failed':
      return o.error;
    case 'waiting':
      return `${o.summary}; the run waits for it (until ${o.deadline})`;
  }
}

function duration(ms: number): string {
  return ms < 60_000 ? `${(ms / 1000).toFixed(1)} s` : `${(ms / 60_000).toFixed(1)} min`;
}

function mark(status: string): string {
  return safe(STATUS_MARK[status] ?? status).padEnd(8);
}

/**
 * `at` is when the item happened; stored transcripts carry no time, so `runs show` passes
 * null. Every field that came from outside is escaped (terminal-safe.ts): one item, one
 * line, except an answer, whose own lines are indented under it.
 */
export function formatTranscriptItem(item: TranscriptItem, at: string | null): string {
  at = at ? clock(at) : '        ';
  switch (item.kind) {
    case 'trigger':
      return `${at}  ${safe(item.trigger.toUpperCase())}  ${safe(item.text)}`;
    case 'plan': {
      const lines = item.text ? [`${at}  plan      ${safe(item.text)}`] : [];
      for (const call of item.calls) lines.push(`${at}  call      ${safe(call.name)} ${oneLine(call.args)}`);
      return lines.join('\n');
    }
    case 'result':
      return `${at}  ${mark(item.outcome.status)}  ${safe(item.name)}: ${safe(outcomeDetail(item.outcome))}`;
    case 'approval':
      return [
        `${at}  ${safe(item.status.toUpperCase()).padEnd(8)}  ${safe(item.name)}: approval ${safe(item.approvalId)} ${safe(item.resolution)}`,
        `${at}  ${mark(item.outcome.status)}  ${safe(item.name)}: ${safe(outcomeDetail(item.outcome))}`,
      ].join('\n');
    case 'wait':
      return `${at}  ${mark(item.outcome.status)}  ${safe(item.name)}: ${safe(outcomeDetail(item.outcome))} (after ${duration(item.waitedMs)})`;
    case 'note':
      return `${at}  note      ${safe(item.text)}`;
    case 'answer':
      return `${at}  answer    ${terminalSafeLines(item.text, '                    ')}`;
  }
}

export function formatRunSummary(run: Run): string {
  const tokens = run.usage.input + run.usage.output;
  return `run ${safe(run.id)} ${safe(run.status)} after ${run.steps} step(s) with ${safe(run.planner)}${run.fallback ? ` (fell back from ${safe(run.fallback.from)})` : ''}; tokens: ${tokens} (${run.usage.input} in, ${run.usage.output} out)`;
}
