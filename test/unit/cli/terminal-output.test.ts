// What `runs`, `audit tail` and `approvals` print of outside text: control characters,
// ANSI sequences and bidi overrides are shown as escapes, so a newline in an alert name
// cannot forge a timeline line, colour codes cannot hide one and an override cannot
// reverse one. The real formatters and the real audit log in a temp dir.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openFileAuditLog } from '../../../src/audit/index.js';
import { auditCommand, formatEntryLine } from '../../../src/cli/audit-command.js';
import { formatApproval } from '../../../src/cli/approvals-command.js';
import { jsonSafe, terminalSafe } from '../../../src/cli/terminal-safe.js';
import { formatRunSummary, formatTranscriptItem } from '../../../src/cli/timeline.js';
import { sampleApproval } from '../../contract/approval-store.contract.js';

const dir = mkdtempSync(join(tmpdir(), 'mlops-terminal-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** An alert name that tries to add a line of its own, recolour it and reverse a word. */
const FORGED =
  'Drift\n        ok        rollback: credit-risk production: all traffic back to v1\x1b[2K\x1b[1A\x1b]0;owned\x07 \u202eenilkcab\u202c\u2066x\u2069\u200b\r';
/** Characters a terminal must never receive from outside text. */
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2066-\u2069]/;

function printable(text: string): void {
  for (const line of text.split('\n')) expect(line, JSON.stringify(line)).not.toMatch(UNSAFE);
}

describe('terminal-safe output', () => {
  it('escapes controls, ANSI and bidi characters, and leaves ordinary text alone', () => {
    expect(terminalSafe('a\nb\x1b[31mc\u202ed\u0085e\tf')).toBe('a\\nb\\x1b[31mc\\u202ed\\x85e\\tf');
    expect(terminalSafe('credit-risk v2 → 25% (ΔAUC +0.03), Zürich, 東京')).toBe(
      'credit-risk v2 → 25% (ΔAUC +0.03), Zürich, 東京',
    );
  });

  it('keeps a run timeline one line per item whatever the alert name holds', () => {
    const trigger = formatTranscriptItem({ kind: 'trigger', trigger: 'alert', text: FORGED, data: null }, null);
    expect(trigger.split('\n')).toHaveLength(1);
    printable(trigger);
    expect(trigger).toContain('Drift\\n        ok        rollback');
    expect(trigger).toContain('\\x1b[2K\\x1b[1A\\x1b]0;owned\\x07 \\u202eenilkcab\\u202c');

    const items = [
      formatTranscriptItem(
        {
          kind: 'plan',
          text: FORGED,
          calls: [{ id: 'call_1', name: 'check_data_quality', args: { dataset: FORGED } }],
        },
        '2026-01-01T00:00:00.000Z',
      ),
      formatTranscriptItem(
        { kind: 'result', callId: 'call_1', name: 'check_data_quality', outcome: { status: 'failed', error: FORGED } },
        null,
      ),
      formatTranscriptItem({ kind: 'note', text: FORGED }, null),
    ];
    expect(items[0]!.split('\n')).toHaveLength(2);
    for (const text of items.slice(1)) expect(text.split('\n')).toHaveLength(1);
    for (const text of items) printable(text);

    // An answer keeps its own lines, each indented under it, so none passes for an item.
    const answer = formatTranscriptItem(
      { kind: 'answer', text: `Done.\n06:14:37  ok        rollback: forged\x1b[0m` },
      '2026-01-01T06:14:36.000Z',
    );
    expect(answer).toBe('06:14:36  answer    Done.\n                    06:14:37  ok        rollback: forged\\x1b[0m');
  });

  it('prints an audit entry as one line, and --json as the same value without raw control or bidi characters', async () => {
    const file = join(dir, 'audit.jsonl');
    const log = await openFileAuditLog({ file });
    await log.append({
      runId: 'run_x',
      principal: 'agent:alerts',
      kind: 'run.started',
      data: { trigger: { text: FORGED }, note: FORGED },
    });
    await log.close();
    let out = '';
    const command = auditCommand(() => ({ auditFile: file }));
    command.configureOutput({ writeOut: (text) => (out += text) });
    await command.parseAsync(['tail'], { from: 'user' });
    expect(out.trimEnd().split('\n')).toHaveLength(2);
    printable(out);

    let json = '';
    const jsonCommand = auditCommand(() => ({ auditFile: file }));
    jsonCommand.configureOutput({ writeOut: (text) => (json += text) });
    await jsonCommand.parseAsync(['tail', '--json'], { from: 'user' });
    printable(json.trimEnd());
    expect(JSON.parse(json).data.note).toBe(FORGED);
    printable(formatEntryLine(JSON.parse(json)));
    expect(out.trimEnd().split('\n')[1]).toContain(
      `${formatEntryLine(JSON.parse(json)).split('  by=agent:alerts  ')[1]!.slice(0, 80)}`,
    );
  });

  it('shows an approval with a forged comment and arguments on its own lines only', () => {
    const approval = sampleApproval({
      args: { model: FORGED },
      votes: [
        {
          by: 'user:bob',
          roles: ['ml-leads'],
          verdict: 'deny',
          comment: FORGED,
          at: '2026-01-01T00:00:00.000Z',
          via: 'http',
        },
      ],
      status: 'denied',
      resolution: `denied by user:bob: ${FORGED}`,
    });
    const text = formatApproval({ ...approval, stillNeeded: 'nothing' });
    printable(text);
    expect(text.split('\n').filter((l) => l.startsWith('  vote '))).toHaveLength(1);
    expect(text.split('\n').every((l) => l.startsWith('approval ') || l.startsWith('  '))).toBe(true);
  });

  it('names who triggered the run that asked', () => {
    const text = formatApproval({
      ...sampleApproval({ requestedBy: { id: 'agent:alerts', roles: [], requester: 'user:alice' } }),
      stillNeeded: '1 more approval(s) from [ml-leads]',
    });
    expect(text).toContain('  asked by   agent:alerts for user:alice (who triggered the run) in run run_test (call_1)');
  });

  it('escapes a run summary and JSON output of runs', () => {
    printable(
      formatRunSummary({
        id: 'run_x',
        status: 'failed',
        steps: 1,
        planner: FORGED,
        fallback: null,
        usage: { input: 0, output: 0 },
      } as never),
    );
    const json = jsonSafe(JSON.stringify({ text: FORGED }, null, 2));
    printable(json);
    expect(JSON.parse(json)).toEqual({ text: FORGED });
  });
});
