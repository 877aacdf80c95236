import { describe, expect, it } from 'vitest';
import type { Approval } from '../../../src/approvals/index.js';
import { approvalMessage, denyModal, parseButtonValue, readDenySubmission } from '../../../src/slack/index.js';
import { NO_DATA_RISK } from '../../../tools/index.js';

function approval(overrides: Partial<Approval> = {}): Approval {
  return {
    schemaVersion: 1,
    id: 'apr_mwthl1g5_15aff571',
    runId: 'run_abc_12345678',
    callId: 'call_2',
    tool: 'deploy_canary',
    args: { model: 'credit-risk', version: '2', environment: 'production', trafficPercent: 25 },
    argsHash: 'a'.repeat(64),
    idempotencyKey: 'run_abc_12345678:call_2',
    risk: {
      environment: 'production',
      trafficPercent: 25,
      trafficChangePercent: 25,
      promotesToFull: false,
      qualityDelta: 0.0305,
      failedQualityGates: [],
      qualityGateFailures: [],
      reversible: true,
      data: NO_DATA_RISK,
    },
    preview: { now: 'stable v1 100%', after: 'stable v1 75%, canary v2 25%' },
    stateHash: 'b'.repeat(64),
    rule: {
      id: 'approve-production-canary-above-5',
      reason: "A production canary above 5% of traffic needs an ML lead's approval.",
      policy: 'default',
    },
    required: { roles: ['ml-leads'], count: 1 },
    requestedBy: { id: 'agent:alertmanager', roles: [] },
    createdAt: '2026-01-01T00:00:00.000Z',
    expiresAt: '2026-01-01T04:00:00.000Z',
    status: 'pending',
    votes: [],
    resolvedAt: null,
    resolution: null,
    consumedAt: null,
    outcome: null,
    notices: {},
    ...overrides,
  };
}

/** Every piece of text in the blocks, as Slack would read it. */
function texts(blocks: unknown): string[] {
  const found: string[] = [];
  const walk = (node: unknown) => {
    if (Array.isArray(node)) return node.forEach(walk);
    if (node && typeof node === 'object') {
      const o = node as Record<string, unknown>;
      if ((o.type === 'mrkdwn' || o.type === 'plain_text') && typeof o.text === 'string') found.push(o.text);
      Object.values(o).forEach(walk);
    }
  };
  walk(blocks);
  return found;
}

const OUR_DATE_TOKEN = /<!date\^\d+\^\{date_short_pretty\} \{time_secs\}\|[0-9T:.\-Z]+>/g;

describe('the approval message in Slack', () => {
  const hostile = {
    trigger: {
      kind: 'alert',
      text: 'ModelDriftDetected firing: <!channel> PSI high, see <https://evil.example/login|the dashboard> cc <@U0CEO> @here',
    },
    reasoning: 'Promote now ```<!everyone>``` trust me',
  };

  it('escapes an alert annotation and the model text: no broadcast, mention or link survives', () => {
    const { text, blocks } = approvalMessage(approval(), hostile);
    const all = [text, ...texts(blocks)].join('\n');
    // The only `<…>` sequences left are the date tokens we build ourselves.
    expect(all.replace(OUR_DATE_TOKEN, '')).not.toMatch(/[<>]/);
    expect(all).toContain('&lt;!channel&gt;');
    expect(all).toContain('&lt;https://evil.example/login|the dashboard&gt;');
    expect(all).toContain('&lt;@U0CEO&gt;');
    expect(all).not.toMatch(/@here\b/);
    // mrkdwn is sent verbatim: no auto-linking or auto-parsed names in it either.
    const mrkdwn: Record<string, unknown>[] = [];
    JSON.stringify(blocks, (_key, value: unknown) => {
      if (value && typeof value === 'object' && (value as { type?: unknown }).type === 'mrkdwn')
        mrkdwn.push(value as Record<string, unknown>);
      return value;
    });
    expect(mrkdwn.length).toBeGreaterThan(5);
    for (const m of mrkdwn) expect(m.verbatim, String(m.text)).toBe(true);
  });

  it('shows what, why, arguments, risk, the change and the rule, with Approve and Deny carrying only id and hash', () => {
    const { blocks } = approvalMessage(approval(), hostile);
    const all = texts(blocks).join('\n');
    for (const part of [
      'deploy_canary',
      'agent:alertmanager',
      'run_abc_12345678',
      'ModelDriftDetected',
      'Promote now',
      '"trafficPercent": 25',
      'production',
      '25%',
      '+0.0305',
      'stable v1 100%',
      'stable v1 75%, canary v2 25%',
      'approve-production-canary-above-5',
      'ml-leads',
      '1 more approval(s)',
    ]) {
      expect(all, part).toContain(part);
    }
    const actions = blocks.find((b) => b.type === 'actions') as { elements: { action_id: string; value: string }[] };
    expect(actions.elements.map((e) => e.action_id)).toEqual(['approval.grant', 'approval.deny']);
    for (const e of actions.elements) {
      expect(e.value).toBe(`apr_mwthl1g5_15aff571:${'a'.repeat(64)}`);
      expect(parseButtonValue(e.value)).toEqual({ approvalId: 'apr_mwthl1g5_15aff571', argsHash: 'a'.repeat(64) });
    }
  });

  it('names who triggered the run, and that they cannot approve it', () => {
    const { text, blocks } = approvalMessage(
      approval({ requestedBy: { id: 'agent:alerts', roles: [], requester: 'user:alice' } }),
      hostile,
    );
    expect(texts(blocks).join('\n')).toContain(
      'requested by `agent:alerts` for `user:alice` (who triggered the run; they cannot approve it)',
    );
    expect(text).toContain('requested by agent:alerts for user:alice');
  });

  it('after the decision shows who decided, when and the outcome, and has no buttons', () => {
    const decided = approval({
      status: 'denied',
      votes: [
        {
          by: 'user:bob',
          roles: ['ml-leads'],
          verdict: 'deny',
          comment: 'not during <!here> the freeze',
          at: '2026-01-01T01:00:00.000Z',
          via: 'slack',
        },
      ],
      resolvedAt: '2026-01-01T01:00:00.000Z',
      resolution: 'denied by user:bob: not during <!here> the freeze',
    });
    const { text, blocks } = approvalMessage(decided, null);
    const all = texts(blocks).join('\n');
    expect(blocks.some((b) => b.type === 'actions')).toBe(false);
    expect(all).toContain('user:bob');
    expect(all).toContain('|2026-01-01T01:00:00.000Z>');
    expect(all).toContain('*Denied*');
    expect(all).toContain('&lt;!here&gt;');
    expect(text).toContain('denied');
  });

  it('shows the executed result once the approved call ran', () => {
    const done = approval({
      status: 'granted',
      resolvedAt: '2026-01-01T01:00:00.000Z',
      resolution: 'granted by user:alice',
      consumedAt: '2026-01-01T01:00:01.000Z',
      outcome: {
        status: 'executed',
        summary: 'credit-risk production: canary v2 at 25%',
        at: '2026-01-01T01:00:09.000Z',
      },
    });
    const all = texts(approvalMessage(done, null).blocks).join('\n');
    expect(all).toContain('*Result* (executed)');
    expect(all).toContain('canary v2 at 25%');
  });

  it('stays within Slack limits when the arguments and texts are huge', () => {
    const big = approval({ args: { note: '<'.repeat(20_000) } });
    const { blocks } = approvalMessage(big, {
      trigger: { kind: 'chat', text: '&'.repeat(10_000) },
      reasoning: '>'.repeat(10_000),
    });
    for (const t of texts(blocks)) expect(t.length).toBeLessThanOrEqual(3000);
    expect(blocks.length).toBeLessThanOrEqual(50);
  });

  it('opens a deny form that asks for a reason and reads it back', () => {
    const view = denyModal(approval());
    expect(view.title.text.length).toBeLessThanOrEqual(24);
    expect(view.private_metadata).toBe(`apr_mwthl1g5_15aff571:${'a'.repeat(64)}`);
    const submitted = readDenySubmission({
      callback_id: view.callback_id!,
      private_metadata: view.private_metadata!,
      state: { values: { reason: { reason: { value: '  not now  ' } } } },
    });
    expect(submitted).toEqual({ approvalId: 'apr_mwthl1g5_15aff571', argsHash: 'a'.repeat(64), reason: 'not now' });
    expect(readDenySubmission({ callback_id: 'something.else', private_metadata: view.private_metadata! })).toBeNull();
    expect(readDenySubmission({ callback_id: view.callback_id!, private_metadata: 'apr_x:zz' })).toBeNull();
  });
});
