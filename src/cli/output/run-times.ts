// When each transcript item of a stored run happened. Stored transcripts carry no times;
// the audit log does (every turn, call and result is an entry with its time), so `runs show`
// reads the run's own entries and pairs them with its items, in order.
import type { TranscriptItem } from '../../agent/planner.js';
import type { Run } from '../../agent/run.js';
import type { AuditEntry, AuditReader } from '../../audit/index.js';

/** The run's audit entries, read by its seq range (not the whole log). */
export async function auditEntriesOf(reader: AuditReader, runId: string): Promise<AuditEntry[]> {
  const range = await reader.runRange(runId);
  if (!range) return [];
  return (await reader.lines(range.first, range.last))
    .map((line) => JSON.parse(line) as AuditEntry)
    .filter((e) => e.runId === runId);
}

const callIdOf = (e: AuditEntry): string | undefined => (typeof e.data.callId === 'string' ? e.data.callId : undefined);

/** One time (ISO) per transcript item, or null where the audit log has no entry for it. */
export function transcriptTimes(run: Run, entries: readonly AuditEntry[]): (string | null)[] {
  const turns = entries.filter((e) => e.kind === 'planner.turn');
  const byCall = new Map<string, AuditEntry[]>();
  for (const e of entries) {
    const id = callIdOf(e);
    if (id) byCall.set(id, [...(byCall.get(id) ?? []), e]);
  }
  /** The first entry of the call with one of these kinds, else its last entry. */
  const ofCall = (callId: string, kinds: string[]): string | null => {
    const mine = byCall.get(callId) ?? [];
    return (mine.find((e) => kinds.includes(e.kind)) ?? mine.at(-1))?.time ?? null;
  };
  const end = entries.findLast((e) => e.kind === 'run.finished' || e.kind === 'run.parked')?.time ?? run.endedAt;
  let plans = 0;
  let previous: string | null = run.createdAt;
  return run.transcript.map((item: TranscriptItem) => {
    let at: string | null;
    switch (item.kind) {
      case 'trigger':
        at = run.createdAt;
        break;
      case 'plan':
        at = turns[plans++]?.time ?? null;
        break;
      case 'result':
        at = ofCall(
          item.callId,
          item.outcome.status === 'waiting'
            ? ['execution.waiting']
            : item.outcome.status === 'pending_approval'
              ? ['approval.requested']
              : ['execution.finished', 'execution.failed'],
        );
        break;
      case 'wait':
        at =
          (byCall.get(item.callId) ?? []).findLast(
            (e) => e.kind === 'execution.finished' || e.kind === 'execution.failed',
          )?.time ?? null;
        break;
      case 'approval':
        at = byCall.get(item.callId)?.at(-1)?.time ?? null;
        break;
      case 'answer':
        at = end;
        break;
      default:
        // A note is the loop's own: it happened right after the item before it.
        at = previous;
    }
    previous = at ?? previous;
    return at;
  });
}
