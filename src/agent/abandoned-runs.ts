// A run the queue gave up on (its last attempt failed, or workers kept dying under it) is
// over: nothing will pick it up again. It must not sit `running` for ever, holding people's
// attention and its alert group, so it is failed with the queue's reason, in the transcript
// and the audit log. A parked or finished run is left as it is: it was not lost.
import type { Clock } from '../clock.js';
import { redactPaths } from '../public-message.js';
import type { AuditAppender } from '../gate/gate.js';
import type { Run } from './run.js';
import type { RunStore } from './run-store.js';

export interface AbandonDeps {
  runs: RunStore;
  audit: AuditAppender;
  clock: Clock;
}

/** The failed run, or null when the stored run was not `running` (or not stored). */
export async function abandonRun(deps: AbandonDeps, runId: string, reason: string): Promise<Run | null> {
  const run = await deps.runs.get(runId);
  if (!run || run.status !== 'running') return null;
  const at = new Date(deps.clock.now()).toISOString();
  const error = `the run queue gave up on this run: ${redactPaths(reason)}. Nothing more is done for it; look at its transcript and the current state before starting it again`;
  await deps.audit.append({
    runId,
    principal: run.trigger.principal.id,
    kind: 'run.abandoned',
    data: { reason, steps: run.steps },
  });
  run.transcript.push({ kind: 'note', text: error });
  Object.assign(run, { status: 'failed', error, endedAt: at, updatedAt: at });
  await deps.runs.save(run);
  return run;
}
