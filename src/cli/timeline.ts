// Prints a run as it happens: the plan, each tool call with the gate's decision, and the
// answer, in lines an operator can read during an incident.
import type { CallOutcomeForPlanner, TranscriptItem } from '../agent/planner.js';
import type { Run } from '../agent/run.js';

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
  return STATUS_MARK[o.status] ?? o.status;
}

function clock(iso: string): string {
  return iso.slice(11, 19);
}

function oneLine(value: unknown, max = 140): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
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

/** `at` is when the item happened; stored transcripts carry no time, so `runs show` passes null. */
export function formatTranscriptItem(item: TranscriptItem, at: string | null): string {
  at = at ? clock(at) : '        ';
  switch (item.kind) {
    case 'trigger':
      return `${at}  ${item.trigger.toUpperCase()}  ${item.text}`;
    case 'plan': {
      const lines = item.text ? [`${at}  ${item.mitigation ? 'MITIGATE' : 'plan    '}  ${item.text}`] : [];
      for (const call of item.calls) lines.push(`${at}  call      ${call.name} ${oneLine(call.args)}`);
      return lines.join('\n');
    }
    case 'result':
      return `${at}  ${mark(item.outcome).padEnd(8)}  ${item.name}: ${outcomeDetail(item.outcome)}`;
    case 'approval':
      return [
        `${at}  ${item.status.toUpperCase().padEnd(8)}  ${item.name}: approval ${item.approvalId} ${item.resolution}`,
        `${at}  ${mark(item.outcome).padEnd(8)}  ${item.name}: ${outcomeDetail(item.outcome)}`,
      ].join('\n');
    case 'wait':
      return `${at}  ${mark(item.outcome).padEnd(8)}  ${item.name}: ${outcomeDetail(item.outcome)} (after ${duration(item.waitedMs)})`;
    case 'note':
      return `${at}  note      ${item.text}`;
    case 'answer':
      return `${at}  answer    ${item.text.split('\n').join('\n                    ')}`;
  }
}

export function formatRunSummary(run: Run): string {
  const tokens = run.usage.input + run.usage.output;
  const lines = [`run ${run.id} ${run.status} after ${run.steps} step(s) with ${run.planner}${run.fallback ? ` (fell back from ${run.fallback.from})` : ''}; tokens: ${tokens} (${run.usage.input} in, ${run.usage.output} out)`];
  // What the transcript shows, beside whatever the answer says; and why it is not `succeeded`.
  if (run.summary) lines.push(`  did     ${run.summary.text}`);
  if (run.error && run.status !== 'succeeded') lines.push(`  why     ${oneLine(run.error, 400)}`);
  for (const flag of run.flags ?? []) lines.push(`  FLAG    ${flag.reason}: "${oneLine(flag.sentence, 200)}"`);
  return lines.join('\n');
}
