// The rules of deciding, as a pure function over an approval: who may vote, when a grant
// is complete (N distinct approvers, the two-person rule, one of each role), and that a
// single authorised denial ends it. Every refusal says why, for the person refused.
import type { Approval, DecisionChannel, Verdict } from './approval.js';

export interface Approver {
  id: string;
  roles: string[];
}

export interface VoteRequest {
  approver: Approver;
  verdict: Verdict;
  comment: string | null;
  via: DecisionChannel;
  /** The arguments hash the approver was shown; a mismatch means they saw another call. */
  argsHash?: string;
}

export type RefusalCode =
  'not_pending' | 'expired' | 'args_mismatch' | 'self_approval' | 'not_authorised' | 'already_voted';

export type VoteResult =
  { ok: true; approval: Approval; resolved: boolean } | { ok: false; code: RefusalCode; message: string };

/**
 * The person behind a principal: an MCP client acting with alice's token (`mcp:user:alice`)
 * is alice, so she cannot approve what she asked for through her assistant.
 */
export function personOf(principalId: string): string {
  return principalId.startsWith('mcp:') && principalId.slice(4).includes(':') ? principalId.slice(4) : principalId;
}

/**
 * Whether `callerId` is the person behind `principal`: it asked (directly, or through an
 * MCP client holding its token) or it started the run that asked (the token that posted
 * the alert). Such a caller sees the run or approval as its own, and may not approve it.
 */
export function isOwn(callerId: string | null, principal: { id: string; requester?: string }): boolean {
  if (callerId === null) return false;
  const me = personOf(callerId);
  return personOf(principal.id) === me || (principal.requester !== undefined && personOf(principal.requester) === me);
}

/** True when distinct approvers can be assigned one to each role (a matching, by backtracking: sets are tiny). */
export function coversEachRole(approvers: readonly Approver[], roles: readonly string[]): boolean {
  const taken = new Set<string>();
  const assign = (i: number): boolean => {
    if (i === roles.length) return true;
    for (const a of approvers) {
      if (taken.has(a.id) || !a.roles.includes(roles[i]!)) continue;
      taken.add(a.id);
      if (assign(i + 1)) return true;
      taken.delete(a.id);
    }
    return false;
  };
  return assign(0);
}

export function applyVote(approval: Approval, vote: VoteRequest, now: number): VoteResult {
  const at = new Date(now).toISOString();
  const { approver, verdict } = vote;
  if (approval.status !== 'pending') {
    return {
      ok: false,
      code: 'not_pending',
      message: `approval ${approval.id} is already ${approval.status}: ${approval.resolution ?? ''}`.trim(),
    };
  }
  if (now >= Date.parse(approval.expiresAt)) {
    return {
      ok: false,
      code: 'expired',
      message: `approval ${approval.id} expired at ${approval.expiresAt}; ask the agent to propose the call again`,
    };
  }
  if (vote.argsHash !== undefined && vote.argsHash !== approval.argsHash) {
    return {
      ok: false,
      code: 'args_mismatch',
      message: `approval ${approval.id} is for other arguments than the ones you were shown (hash ${vote.argsHash.slice(0, 12)}…, stored ${approval.argsHash.slice(0, 12)}…); nothing was decided`,
    };
  }
  if (personOf(approver.id) === personOf(approval.requestedBy.id)) {
    return {
      ok: false,
      code: 'self_approval',
      message: `${approver.id} asked for this call and cannot decide on their own request; another approver must`,
    };
  }
  // Whoever started the run (the token that posted its alert) asked for it too, through the agent.
  const requester = approval.requestedBy.requester;
  if (requester !== undefined && personOf(approver.id) === personOf(requester)) {
    return {
      ok: false,
      code: 'self_approval',
      message: `${approver.id} triggered the run that asked for this call (as ${approval.requestedBy.id}) and cannot decide on their own request; another approver must`,
    };
  }
  const { roles, count } = approval.required;
  const held = approver.roles.filter((r) => roles.includes(r));
  if (held.length === 0) {
    return {
      ok: false,
      code: 'not_authorised',
      message: `${approver.id} holds ${approver.roles.length ? `roles [${approver.roles.join(', ')}]` : 'no roles'}; this approval needs one of [${roles.join(', ')}] (policy rule ${approval.rule.id ?? '(none)'})`,
    };
  }
  if (approval.votes.some((v) => v.by === approver.id)) {
    return {
      ok: false,
      code: 'already_voted',
      message: `${approver.id} already decided on approval ${approval.id}; each approver counts once`,
    };
  }

  const next: Approval = {
    ...approval,
    votes: [...approval.votes, { by: approver.id, roles: held, verdict, comment: vote.comment, at, via: vote.via }],
  };
  if (verdict === 'deny') {
    return {
      ok: true,
      resolved: true,
      approval: {
        ...next,
        status: 'denied',
        resolvedAt: at,
        resolution: `denied by ${approver.id}${vote.comment ? `: ${vote.comment}` : ''}`,
      },
    };
  }
  const grants = next.votes.filter((v) => v.verdict === 'grant').map((v) => ({ id: v.by, roles: v.roles }));
  const enough = grants.length >= count && (!approval.required.eachRole || coversEachRole(grants, roles));
  if (!enough) return { ok: true, resolved: false, approval: next };
  return {
    ok: true,
    resolved: true,
    approval: {
      ...next,
      status: 'granted',
      resolvedAt: at,
      resolution: `granted by ${grants.map((g) => g.id).join(' and ')}`,
    },
  };
}
