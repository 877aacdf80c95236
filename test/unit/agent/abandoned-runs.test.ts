import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { abandonRun } from '../../../src/agent/abandoned-runs.js';
import { RUN_SCHEMA_VERSION, type Run } from '../../../src/agent/run.js';
import { createFileRunStore } from '../../../src/agent/run-store.js';
import { openFileAuditLog, readAuditEntries, type AuditLog } from '../../../src/audit/index.js';
import { systemClock } from '../../../src/clock.js';

let dir = '';
let audit: AuditLog | undefined;
afterEach(async () => {
  await audit?.close();
  rmSync(dir, { recursive: true, force: true });
});

function stored(id: string, status: Run['status']): Run {
  const at = new Date().toISOString();
  const trigger = {
    kind: 'alert' as const,
    principal: { id: 'agent:alertmanager', roles: [] },
    alertName: 'DriftHigh',
    text: 'DriftHigh firing',
    data: null,
  };
  return {
    schemaVersion: RUN_SCHEMA_VERSION,
    id,
    trigger,
    status,
    planner: 'runbook:drift-retrain',
    fallback: null,
    transcript: [{ kind: 'trigger', trigger: 'alert', text: trigger.text, data: null }],
    steps: 2,
    usage: { input: 0, output: 0 },
    answer: null,
    error: null,
    createdAt: at,
    updatedAt: at,
    endedAt: null,
  };
}

describe('a run the queue gave up on', () => {
  it("is failed with the queue's reason, in the run, its transcript and the audit log", async () => {
    dir = mkdtempSync(join(tmpdir(), 'mlops-abandon-'));
    audit = await openFileAuditLog({ file: join(dir, 'audit.jsonl'), clock: systemClock });
    const runs = createFileRunStore(join(dir, 'runs'));
    await runs.save(stored('run_mx1_0000000a', 'running'));
    const failed = await abandonRun(
      { runs, audit, clock: systemClock },
      'run_mx1_0000000a',
      'job stalled more than allowable limit',
    );
    expect(failed).toMatchObject({
      status: 'failed',
      error: expect.stringContaining('the run queue gave up on this run: job stalled more than allowable limit'),
    });
    const after = await runs.get('run_mx1_0000000a');
    expect(after).toMatchObject({ status: 'failed', endedAt: expect.any(String) });
    expect(after!.transcript.at(-1)).toMatchObject({
      kind: 'note',
      text: expect.stringContaining('look at its transcript and the current state'),
    });
    expect((await readAuditEntries(join(dir, 'audit.jsonl'))).map((e) => [e.kind, e.runId, e.data.reason])).toEqual([
      ['run.abandoned', 'run_mx1_0000000a', 'job stalled more than allowable limit'],
    ]);
  });

  it('leaves a parked, finished or unknown run as it is', async () => {
    dir = mkdtempSync(join(tmpdir(), 'mlops-abandon-'));
    audit = await openFileAuditLog({ file: join(dir, 'audit.jsonl'), clock: systemClock });
    const runs = createFileRunStore(join(dir, 'runs'));
    await runs.save(stored('run_mx1_0000000b', 'waiting_approval'));
    await runs.save(stored('run_mx1_0000000c', 'succeeded'));
    for (const id of ['run_mx1_0000000b', 'run_mx1_0000000c', 'run_mx1_0000000d'])
      expect(await abandonRun({ runs, audit, clock: systemClock }, id, 'gave up')).toBeNull();
    expect((await runs.get('run_mx1_0000000b'))?.status).toBe('waiting_approval');
    expect(await readAuditEntries(join(dir, 'audit.jsonl'))).toEqual([]);
  });
});
