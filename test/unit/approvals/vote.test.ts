import { describe, expect, it } from 'vitest';
import {
  applyVote,
  coversEachRole,
  personOf,
  stillNeeded,
  type Approval,
  type VoteRequest,
} from '../../../src/approvals/index.js';
import { sampleApproval } from '../../contract/approval-store.contract.js';

const now = Date.parse('2026-01-01T01:00:00Z');
const alice = { id: 'user:alice', roles: ['ml-leads'] };
const bob = { id: 'user:bob', roles: ['ml-leads'] };
const carol = { id: 'user:carol', roles: ['risk-officers'] };
const dave = { id: 'user:dave', roles: ['ml-leads', 'risk-officers'] };

const grant = (approver: VoteRequest['approver'], extra: Partial<VoteRequest> = {}): VoteRequest => ({
  approver,
  verdict: 'grant',
  comment: null,
  via: 'http',
  ...extra,
});

function vote(a: Approval, v: VoteRequest) {
  const result = applyVote(a, v, now);
  if (!result.ok) throw new Error(`refused: ${result.message}`);
  return result;
}

const promotion = () =>
  sampleApproval({ required: { roles: ['ml-leads', 'risk-officers'], count: 2, eachRole: true } });

describe('deciding an approval', () => {
  it('grants on the one approval a single-approver rule needs, recording who, how and when', () => {
    const result = vote(sampleApproval(), grant(alice, { comment: 'canary held for 2h', via: 'slack' }));
    expect(result.resolved).toBe(true);
    expect(result.approval).toMatchObject({
      status: 'granted',
      resolution: 'granted by user:alice',
      resolvedAt: new Date(now).toISOString(),
    });
    expect(result.approval.votes).toEqual([
      {
        by: 'user:alice',
        roles: ['ml-leads'],
        verdict: 'grant',
        comment: 'canary held for 2h',
        at: new Date(now).toISOString(),
        via: 'slack',
      },
    ]);
  });

  it('refuses the principal who asked, also when they asked through an MCP client with their own token', () => {
    const own = applyVote(sampleApproval({ requestedBy: { id: 'user:alice', roles: [] } }), grant(alice), now);
    expect(own).toMatchObject({ ok: false, code: 'self_approval' });
    const viaMcp = applyVote(sampleApproval({ requestedBy: { id: 'mcp:user:alice', roles: [] } }), grant(alice), now);
    expect(viaMcp).toMatchObject({ ok: false, code: 'self_approval' });
    expect(personOf('mcp:claude-desktop')).toBe('mcp:claude-desktop');
  });

  it('refuses someone without a role the rule names, saying which roles they hold and which are needed', () => {
    const result = applyVote(sampleApproval(), grant(carol), now);
    expect(result).toMatchObject({ ok: false, code: 'not_authorised' });
    if (!result.ok)
      expect(result.message).toBe(
        'user:carol holds roles [risk-officers]; this approval needs one of [ml-leads] (policy rule approve-production-canary-above-5)',
      );
    expect(applyVote(sampleApproval(), grant({ id: 'user:mallory', roles: [] }), now)).toMatchObject({
      ok: false,
      message: expect.stringContaining('holds no roles'),
    });
  });

  it('refuses a decision on other arguments than the stored ones', () => {
    const a = sampleApproval();
    expect(applyVote(a, grant(alice, { argsHash: 'f'.repeat(64) }), now)).toMatchObject({
      ok: false,
      code: 'args_mismatch',
    });
    expect(vote(a, grant(alice, { argsHash: a.argsHash })).resolved).toBe(true);
  });

  it('refuses any decision once the approval is decided or past its expiry', () => {
    const granted = vote(sampleApproval(), grant(alice)).approval;
    expect(applyVote(granted, grant(bob), now)).toMatchObject({
      ok: false,
      code: 'not_pending',
      message: expect.stringContaining('already granted'),
    });
    const late = applyVote(sampleApproval({ expiresAt: '2026-01-01T00:59:59.999Z' }), grant(alice), now);
    expect(late).toMatchObject({ ok: false, code: 'expired' });
  });

  it('ends an approval on one authorised denial, with the reason', () => {
    const result = vote(promotion(), {
      approver: carol,
      verdict: 'deny',
      comment: 'score drift on thin files',
      via: 'cli',
    });
    expect(result).toMatchObject({
      resolved: true,
      approval: { status: 'denied', resolution: 'denied by user:carol: score drift on thin files' },
    });
  });

  it('needs two distinct people under the two-person rule, and counts each person once', () => {
    const rule = sampleApproval({ required: { roles: ['ml-leads'], count: 2 } });
    const first = vote(rule, grant(alice));
    expect(first.resolved).toBe(false);
    expect(stillNeeded(first.approval)).toBe('1 more approval(s) from [ml-leads]');
    expect(applyVote(first.approval, grant(alice), now)).toMatchObject({ ok: false, code: 'already_voted' });
    const second = vote(first.approval, grant(bob));
    expect(second).toMatchObject({
      resolved: true,
      approval: { status: 'granted', resolution: 'granted by user:alice and user:bob' },
    });
  });

  it('with eachRole, two ML leads are not enough: a risk officer must be among the approvers', () => {
    const afterAlice = vote(promotion(), grant(alice)).approval;
    const afterBob = vote(afterAlice, grant(bob));
    expect(afterBob.resolved).toBe(false);
    expect(stillNeeded(afterBob.approval)).toContain('one from each of [risk-officers]');
    const afterCarol = vote(afterBob.approval, grant(carol));
    expect(afterCarol).toMatchObject({ resolved: true, approval: { status: 'granted' } });
  });

  it('with eachRole, one person holding both roles still needs a second person', () => {
    const afterDave = vote(promotion(), grant(dave));
    expect(afterDave.resolved).toBe(false);
    expect(vote(afterDave.approval, grant(alice)).resolved).toBe(true);
  });

  it('matches distinct approvers to roles, so one person never covers two roles', () => {
    expect(coversEachRole([dave], ['ml-leads', 'risk-officers'])).toBe(false);
    expect(coversEachRole([dave, bob], ['ml-leads', 'risk-officers'])).toBe(true);
    expect(coversEachRole([alice, bob], ['ml-leads', 'risk-officers'])).toBe(false);
  });
});
