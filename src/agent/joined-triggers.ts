// Triggers that joined a run after it was queued: repeat firings of its alert, and the
// `resolved` notice. The loop takes them in between steps; this file decides what they
// mean. A resolved alert ends a run that has only looked so far, since acting on an alert
// that cleared on its own (retraining, shipping) would change production for nothing.
import type { Logger } from '../logger.js';
import type { AuditAppender } from '../gate/gate.js';
import type { TranscriptItem } from './planner.js';
import type { Run, Trigger } from './run.js';

/** The queue's record of a trigger that joined a run (`RunQueue.joined` gives these). */
export interface JoinedNotice {
  at: string;
  /** `firing` / `resolved` for alerts, otherwise null. */
  status: string | null;
  trigger: Trigger;
}

export interface AbsorbDeps {
  /** Notices from the `from`-th on. */
  joined(runId: string, from: number): Promise<JoinedNotice[]>;
  readOnly(tool: string): boolean;
  audit: AuditAppender;
  push(run: Run, item: TranscriptItem): Promise<void>;
  logger: Logger;
}

/**
 * Tools that can change things and that the run set going: executed, failed while
 * executing (it may have changed something), or started and still under way (a training
 * job, a canary stepping) — whether directly or once people approved them.
 */
export function changingCalls(run: Run, readOnly: (tool: string) => boolean): string[] {
  const names = new Set<string>();
  for (const item of run.transcript) {
    if (item.kind !== 'result' && item.kind !== 'approval' && item.kind !== 'wait') continue;
    const { status } = item.outcome;
    if ((status === 'executed' || status === 'failed' || status === 'waiting') && !readOnly(item.name))
      names.add(item.name);
  }
  return [...names];
}

function countByStatus(notices: JoinedNotice[]): string {
  const counts = new Map<string, number>();
  for (const n of notices) counts.set(n.status ?? 'other', (counts.get(n.status ?? 'other') ?? 0) + 1);
  return [...counts].map(([status, n]) => `${n} ${status}`).join(', ');
}

/**
 * Records notices that joined `run` since the last look (a transcript note with counts,
 * statuses and times only: their labels are outside content and stay out of loop notes).
 * Returns the answer to end the run with when the alert resolved before the run changed
 * anything, else null. A queue that cannot be read is logged and skipped: joined notices
 * inform a run, they never gate one.
 */
export async function absorbJoined(run: Run, deps: AbsorbDeps): Promise<string | null> {
  const seen = run.joinedSeen ?? 0;
  let fresh: JoinedNotice[];
  try {
    fresh = await deps.joined(run.id, seen);
  } catch (err) {
    deps.logger.warn({ runId: run.id, err }, 'could not read the triggers that joined this run; carrying on');
    return null;
  }
  if (fresh.length === 0) return null;
  const total = seen + fresh.length;
  const latest = fresh[fresh.length - 1]!;
  const resolved = latest.status === 'resolved';
  const changed = resolved ? changingCalls(run, deps.readOnly) : [];
  const principal = run.trigger.principal.id;

  run.joinedSeen = total;
  await deps.audit.append({
    runId: run.id,
    principal,
    kind: 'run.joined',
    data: {
      count: fresh.length,
      byStatus: countByStatus(fresh),
      latestStatus: latest.status,
      latestAt: latest.at,
      total,
    },
  });
  let text = `${fresh.length} more notice(s) for this alert joined the run (${countByStatus(fresh)}); the latest, at ${latest.at}, says ${latest.status ?? 'nothing about its status'}.`;
  if (resolved && changed.length > 0) {
    text += ` The alert has resolved, but this run already made changes (${changed.join(', ')}), so it carries on: decide whether the remaining steps are still needed.`;
  }
  await deps.push(run, { kind: 'note', text });
  if (!resolved || changed.length > 0) return null;

  await deps.audit.append({
    runId: run.id,
    principal,
    kind: 'run.resolved',
    data: { resolvedAt: latest.at, steps: run.steps, readOnlyOnly: true },
  });
  deps.logger.info(
    { runId: run.id, resolvedAt: latest.at },
    'the alert resolved before the run changed anything; ending the run',
  );
  return `The alert resolved (notice at ${latest.at}) before any change was needed: this run had changed nothing (read-only tools at most), so it ends here without acting.`;
}
