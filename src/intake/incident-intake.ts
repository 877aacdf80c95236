// What one alert notification does: start a run for alerts no run handles, join the run of
// its group, be recorded as a duplicate of a run that handled its alerts (running, parked or
// ended), or, resolved, mark its alerts resolved and tell the run it joins. The answer
// names the run and says which of these happened.
import type { AuditAppender } from '../audit/index.js';
import type { Clock } from '../clock.js';
import { handledRecords, judgeAlerts, resolvedRecords, type AlertNotice, type IncidentIndex } from './incidents.js';
import type { RunQueue } from './run-queue.js';

export interface IncidentIntakeDeps {
  queue: Pick<RunQueue, 'enqueue' | 'join'>;
  index: IncidentIndex;
  audit: AuditAppender;
  clock: Clock;
  /** How long an incident whose alerts keep firing stays handled (the runbook's `recheckAfter`); null: until they resolve. */
  recheckAfterMs?(alertName: string | undefined): number | null;
}

export type IntakeResult =
  /** A run was started for alerts no run handled (or they joined the group's queued, active or parked run: `coalesced`). */
  | { incident: 'new'; runId: string; coalesced: boolean; newAlerts: number }
  /** Every firing alert is handled; recorded on the group's run, still queued, active or parked. */
  | { incident: 'joined'; runId: string; coalesced: true; handledBy: string[] }
  /** Every firing alert is handled by a run that has ended; nothing started. */
  | { incident: 'duplicate'; runId: string; coalesced: false; handledBy: string[] }
  /** A resolved notice: recorded on the group's run (`runId`), or with no run to join only in the audit log. */
  | { incident: 'resolved'; runId: string | null; coalesced: boolean };

export function createIncidentIntake(deps: IncidentIntakeDeps) {
  const { queue, index, audit, clock } = deps;
  const iso = () => new Date(clock.now()).toISOString();

  async function resolved(notice: AlertNotice, receiver: string): Promise<IntakeResult> {
    const { trigger, dedupeKey } = notice;
    const known = await index.get(notice.alerts.map((a) => a.key));
    await index.put(resolvedRecords(notice.alerts, known, iso()));
    const runId = await queue.join(trigger, dedupeKey);
    await audit.append({
      runId,
      principal: trigger.principal.id,
      kind: 'alert.resolved',
      data: { receiver, alertName: trigger.alertName ?? null, dedupeKey, joined: runId !== null },
    });
    return { incident: 'resolved', runId, coalesced: runId !== null };
  }

  return {
    async accept(notice: AlertNotice, receiver: string): Promise<IntakeResult> {
      const firing = notice.alerts.filter((a) => a.status === 'firing');
      if (notice.status === 'resolved' || firing.length === 0) return resolved(notice, receiver);
      const { trigger, dedupeKey } = notice;
      const known = await index.get(notice.alerts.map((a) => a.key));
      const at = iso();
      // Alerts of a firing group can resolve one by one: each is marked as it goes.
      const gone = notice.alerts.map((a, i) => [a, known[i]] as const).filter(([a]) => a.status === 'resolved');
      await index.put(
        resolvedRecords(
          gone.map(([a]) => a),
          gone.map(([, k]) => k),
          at,
        ),
      );

      const knownFiring = notice.alerts.flatMap((a, i) => (a.status === 'firing' ? [known[i]] : []));
      const verdict = judgeAlerts(firing, knownFiring, clock.now(), deps.recheckAfterMs?.(trigger.alertName) ?? null);
      if (verdict.fresh.length === 0) {
        const joined = await queue.join(trigger, dedupeKey);
        if (joined) return { incident: 'joined', runId: joined, coalesced: true, handledBy: verdict.handledBy };
        const runId = verdict.handledBy[0]!;
        await audit.append({
          runId,
          principal: trigger.principal.id,
          kind: 'alert.duplicate',
          data: {
            receiver,
            alertName: trigger.alertName ?? null,
            dedupeKey,
            alerts: firing.length,
            handledBy: verdict.handledBy,
          },
        });
        return { incident: 'duplicate', runId, coalesced: false, handledBy: verdict.handledBy };
      }
      const { runId, coalesced } = await queue.enqueue(trigger, { dedupeKey });
      const freshKnown = verdict.fresh.map((a) => knownFiring[firing.indexOf(a)]);
      await index.put(handledRecords(verdict.fresh, freshKnown, runId, at));
      return { incident: 'new', runId, coalesced, newAlerts: verdict.fresh.length };
    },
  };
}

export type IncidentIntake = ReturnType<typeof createIncidentIntake>;
