// The approvals service: parks a call the policy says needs people (the gate's
// ApprovalSink), takes their decisions from any channel, expires what waited too long or
// became moot, and hands a complete grant to the gate exactly once. Every event is in the
// audit log, and any doubt (unknown id, changed arguments, store error) executes nothing.
import type { Clock } from '../clock.js';
import { describeError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { ApprovalSink, AuditAppender, ParkedCall } from '../policy/index.js';
import {
  APPROVAL_SCHEMA_VERSION,
  argsHashOf,
  checkApprovalId,
  newApprovalId,
  type Approval,
  type ApprovalStatus,
  type ApprovedCallOutcome,
  type ChangePreview,
} from './approval.js';
import type { ApprovalStore } from './approval-store.js';
import { applyVote, type RefusalCode, type VoteRequest } from './vote.js';

/** A channel that tells people about approvals (Slack). HTTP and the CLI need no notice. */
export interface ApprovalNotifier {
  readonly name: string;
  /** Announces a new approval; what it returns (e.g. the message's channel and ts) is kept on the approval. */
  requested(approval: Approval): Promise<unknown>;
  /** The approval got a vote, resolved, or its call ran. */
  updated(approval: Approval): Promise<void>;
}

/** What a call would change, from the tool: a hash of the current state and a preview in words. */
export type StateOf = (tool: string, args: Record<string, unknown>) => Promise<{ hash: string; preview: ChangePreview } | null>;

export interface ApprovalsOptions {
  store: ApprovalStore;
  audit: AuditAppender;
  /** Roles a principal holds, from the policy's `roles:` map. */
  rolesOf: (principalId: string) => string[];
  stateOf: StateOf;
  clock: Clock;
  logger: Logger;
  notifiers?: ApprovalNotifier[];
  /** Used when a rule gives no expiry (the policy loader always does; 4 h). */
  defaultExpiresInMs?: number;
}

/** A decision as a channel hands it in: who (the principal id it authenticated), what, and what they were shown. */
export interface DecisionRequest {
  approverId: string;
  verdict: VoteRequest['verdict'];
  comment: string | null;
  via: VoteRequest['via'];
  argsHash?: string;
}

export type DecideResult =
  | { ok: true; approval: Approval; resolved: boolean }
  | { ok: false; code: RefusalCode | 'not_found'; message: string };

export type ConsumeResult = { ok: true; call: ParkedCall; approval: Approval } | { ok: false; reason: string };

export interface Approvals extends ApprovalSink {
  get(id: string): Promise<Approval | undefined>;
  list(filter?: { status?: ApprovalStatus; runId?: string }): Promise<Approval[]>;
  /** The approver's roles come from the policy, never from the channel. */
  decide(id: string, decision: DecisionRequest): Promise<DecideResult>;
  /** Whether `decide` would take this vote now; records nothing (a channel asks before it asks for a reason). */
  wouldTake(id: string, decision: Omit<DecisionRequest, 'comment'>): Promise<{ ok: true } | { ok: false; code: RefusalCode | 'not_found'; message: string }>;
  /** Records a refusal that never reached an approval (a forged or replayed Slack request). */
  refuse(event: { principal: string; approvalId: string | null; code: string; message: string; via: string }): Promise<void>;
  /** Remembers a channel's one-time key in the store (replay protection); false when it was already there. */
  claimOnce(key: string, ttlMs: number): Promise<boolean>;
  /**
   * Expires pending approvals that are past their time and, with `moot`, those whose
   * world moved. Only a process that executes runs should judge mootness: its backends
   * are the ones the calls act on (the embedded lab keeps its split in each process).
   */
  expireDue(options?: { moot?: boolean }): Promise<Approval[]>;
  /** Called after an approval resolved: resume its run, or run its direct call. */
  onResolved(listener: (approval: Approval) => void): void;
  /** Where people decide, for messages to the requester. */
  where(approvalId: string): string;
}

const FOUR_HOURS = 4 * 60 * 60_000;

export function createApprovals(options: ApprovalsOptions): Approvals {
  const { store, audit, clock, logger } = options;
  const notifiers = options.notifiers ?? [];
  const listeners: ((approval: Approval) => void)[] = [];
  const iso = () => new Date(clock.now()).toISOString();

  const record = (approval: Pick<Approval, 'runId'>, principal: string, kind: string, data: Record<string, unknown>) =>
    audit.append({ runId: approval.runId, principal, kind, data });

  // Channels are told after the store and the audit log have it; a channel that is down
  // must not stop a decision taken through another one.
  async function notify(approval: Approval): Promise<void> {
    await Promise.all(
      notifiers.map((n) => n.updated(approval).catch((err: unknown) => logger.warn({ err, approvalId: approval.id, channel: n.name }, 'could not update the approval message'))),
    );
  }

  function resolved(approval: Approval): void {
    for (const listener of listeners) {
      try {
        listener(approval);
      } catch (err) {
        logger.error({ err, approvalId: approval.id }, 'an approval listener failed');
      }
    }
  }

  function where(id: string): string {
    const channels = [...notifiers.map((n) => `${n.name[0]!.toUpperCase()}${n.name.slice(1)}`), `HTTP (POST /v1/approvals/${id}/decision)`, `the CLI (mlops-agent approvals approve|deny ${id})`];
    return `${channels.slice(0, -1).join(', ')} or ${channels.at(-1)}`;
  }

  async function expire(approval: Approval, why: string, kind: 'time' | 'moot'): Promise<Approval | null> {
    const at = iso();
    const result = await store.update(approval.id, (current) =>
      current.status === 'pending' ? { ...current, status: 'expired', resolvedAt: at, resolution: why } : null,
    );
    if (!result?.changed) return null;
    await record(approval, 'system:approvals', 'approval.expired', { approvalId: approval.id, tool: approval.tool, reason: why, moot: kind === 'moot' });
    await notify(result.approval);
    resolved(result.approval);
    return result.approval;
  }

  return {
    async request(call) {
      const requirement = call.decision.approval;
      const now = clock.now();
      const state = await options.stateOf(call.tool, call.args);
      const approval: Approval = {
        schemaVersion: APPROVAL_SCHEMA_VERSION,
        id: newApprovalId(now),
        runId: call.runId,
        callId: call.callId,
        tool: call.tool,
        args: call.args,
        argsHash: argsHashOf(call.args),
        idempotencyKey: call.idempotencyKey,
        risk: call.risk,
        preview: state?.preview ?? null,
        stateHash: state?.hash ?? null,
        rule: { id: call.decision.ruleId, reason: call.decision.reason, policy: call.decision.policy },
        required: { roles: requirement?.roles ?? [], count: requirement?.count ?? 1, ...(requirement?.eachRole ? { eachRole: true } : {}) },
        requestedBy: call.principal,
        createdAt: new Date(now).toISOString(),
        expiresAt: new Date(now + (requirement?.expiresInMs ?? options.defaultExpiresInMs ?? FOUR_HOURS)).toISOString(),
        status: 'pending',
        votes: [],
        resolvedAt: null,
        resolution: null,
        consumedAt: null,
        outcome: null,
        notices: {},
      };
      await store.create(approval);
      await record(approval, call.principal.id, 'approval.requested', {
        approvalId: approval.id,
        callId: call.callId,
        tool: call.tool,
        argsHash: approval.argsHash,
        required: approval.required,
        expiresAt: approval.expiresAt,
        preview: approval.preview,
      });
      for (const n of notifiers) {
        try {
          const ref = await n.requested(approval);
          await store.update(approval.id, (current) => ({ ...current, notices: { ...current.notices, [n.name]: ref } }));
        } catch (err) {
          logger.warn({ err, approvalId: approval.id, channel: n.name }, 'could not announce the approval; it can still be decided over HTTP or the CLI');
        }
      }
      return { approvalId: approval.id, where: where(approval.id) };
    },

    async wouldTake(id, decision) {
      const approval = await store.get(checkApprovalId(id));
      if (!approval) return { ok: false, code: 'not_found', message: `no approval ${id}` };
      const { approverId, ...rest } = decision;
      const applied = applyVote(approval, { ...rest, comment: null, approver: { id: approverId, roles: options.rolesOf(approverId) } }, clock.now());
      return applied.ok ? { ok: true } : applied;
    },

    async decide(id, decision) {
      checkApprovalId(id);
      const { approverId, ...rest } = decision;
      const vote: VoteRequest = { ...rest, approver: { id: approverId, roles: options.rolesOf(approverId) } };
      let refusal: { code: RefusalCode; message: string } | null = null;
      let resolvedNow = false;
      const now = clock.now();
      // The vote is re-applied to the newest stored value if another decision got in first.
      const result = await store.update(id, (current) => {
        const applied = applyVote(current, vote, now);
        if (!applied.ok) {
          refusal = applied;
          return null;
        }
        refusal = null;
        resolvedNow = applied.resolved;
        return applied.approval;
      });
      const base = { approvalId: id, approver: vote.approver.id, verdict: vote.verdict, via: vote.via };
      if (!result) {
        await record({ runId: null }, vote.approver.id, 'approval.refused', { ...base, code: 'not_found', reason: `no approval ${id}` });
        return { ok: false, code: 'not_found', message: `no approval ${id}` };
      }
      const refused = refusal as { code: RefusalCode; message: string } | null;
      if (refused) {
        await record(result.approval, vote.approver.id, 'approval.refused', { ...base, code: refused.code, reason: refused.message });
        // A decision that arrives after the deadline finds it expired: make that official.
        if (refused.code === 'expired') await expire(result.approval, `expired at ${result.approval.expiresAt} without enough approvals`, 'time');
        return { ok: false, ...refused };
      }
      const approval = result.approval;
      await record(approval, vote.approver.id, 'approval.vote', { ...base, comment: vote.comment, roles: approval.votes.at(-1)?.roles ?? [] });
      if (resolvedNow) await record(approval, vote.approver.id, `approval.${approval.status}`, { approvalId: id, tool: approval.tool, resolution: approval.resolution });
      await notify(approval);
      if (resolvedNow) resolved(approval);
      return { ok: true, approval, resolved: resolvedNow };
    },

    async refuse(event) {
      await audit.append({ runId: null, principal: event.principal, kind: 'approval.refused', data: { approvalId: event.approvalId, code: event.code, reason: event.message, via: event.via } });
    },

    async consume(approvalId) {
      let approval: Approval | undefined;
      try {
        approval = await store.get(checkApprovalId(approvalId));
      } catch (err) {
        return { ok: false, reason: `approval ${approvalId} could not be read (${describeError(err)}); nothing was executed` };
      }
      if (!approval) return { ok: false, reason: `no approval ${approvalId}; nothing was executed` };
      if (approval.status !== 'granted') return { ok: false, reason: `approval ${approvalId} is ${approval.status}${approval.resolution ? ` (${approval.resolution})` : ''}; nothing was executed` };
      if (approval.consumedAt) return { ok: false, reason: `approval ${approvalId} was already used at ${approval.consumedAt}; a grant executes its call once` };
      // The stored arguments must still be the ones people approved.
      if (argsHashOf(approval.args) !== approval.argsHash) return { ok: false, reason: `approval ${approvalId}: the stored arguments no longer match their hash; nothing was executed` };

      const state = await options.stateOf(approval.tool, approval.args).catch(() => null);
      const moot = approval.stateHash !== null && state?.hash !== approval.stateHash;
      const at = iso();
      const taken = await store.update(approvalId, (current) => {
        if (current.status !== 'granted' || current.consumedAt) return null;
        if (moot) return { ...current, consumedAt: at, outcome: { status: 'refused', summary: 'not executed: what it would change has changed since it was approved', at } };
        return { ...current, consumedAt: at };
      });
      if (!taken?.changed) return { ok: false, reason: `approval ${approvalId} was taken by another worker; a grant executes its call once` };
      if (moot) {
        const reason = `approval ${approvalId} is moot: what ${approval.tool} would change has changed since it was approved${state ? ` (now: ${state.preview.now})` : ''}; nothing was executed`;
        await record(approval, 'system:approvals', 'approval.moot', { approvalId, tool: approval.tool, reason });
        await notify(taken.approval);
        return { ok: false, reason };
      }
      await record(approval, approval.requestedBy.id, 'approval.consumed', { approvalId, callId: approval.callId, tool: approval.tool, argsHash: approval.argsHash, idempotencyKey: approval.idempotencyKey });
      const call: ParkedCall = {
        runId: approval.runId,
        callId: approval.callId,
        principal: approval.requestedBy,
        tool: approval.tool,
        args: approval.args,
        risk: approval.risk,
        decision: { effect: 'require_approval', ruleId: approval.rule.id, reason: approval.rule.reason, policy: approval.rule.policy },
        idempotencyKey: approval.idempotencyKey,
      };
      return { ok: true, call, approval: taken.approval };
    },

    async recordOutcome(approvalId, outcome) {
      const at = iso();
      const stored: ApprovedCallOutcome = { ...outcome, at };
      const result = await store.update(approvalId, (current) => ({ ...current, outcome: stored }));
      if (result) await notify(result.approval);
    },

    claimOnce: (key, ttlMs) => store.claimOnce(key, ttlMs),

    get: (id) => store.get(checkApprovalId(id)),
    list: (filter) => store.list(filter),

    async expireDue({ moot = true } = {}) {
      const now = clock.now();
      const expired: Approval[] = [];
      for (const approval of await store.list({ status: 'pending' })) {
        let done: Approval | null = null;
        if (now >= Date.parse(approval.expiresAt)) {
          done = await expire(approval, `expired at ${approval.expiresAt} without enough approvals (${approval.votes.length} vote(s) of ${approval.required.count} needed)`, 'time');
        } else if (moot && approval.stateHash !== null) {
          const state = await options.stateOf(approval.tool, approval.args).catch((err: unknown) => {
            logger.warn({ err, approvalId: approval.id }, 'could not read the state an approval would change');
            return undefined;
          });
          // Unknown (a backend hiccup) is not moot: the check runs again next sweep, and consume checks once more.
          if (state !== undefined && state?.hash !== approval.stateHash) {
            done = await expire(approval, `expired as moot: what it would change has changed since it was requested${state ? ` (now: ${state.preview.now})` : ''}`, 'moot');
          }
        }
        if (done) expired.push(done);
      }
      return expired;
    },

    onResolved(listener) {
      listeners.push(listener);
    },

    where,
  };
}
