// The approvals service: parks a call the policy says needs people (the gate's
// ApprovalSink), takes their decisions from any channel, expires what waited too long or
// became moot, and hands a complete grant to the gate exactly once. Every event is in the
// audit log, and any doubt (unknown id, changed arguments, store error) executes nothing.
import type { Clock } from '../clock.js';
import { describeError } from '../errors.js';
import { publicMessage } from '../public-message.js';
import type { Logger } from '../logger.js';
import { argsHashOf, type ApprovalSink, type AuditAppender, type CallEnd, type ParkedCall } from '../gate/index.js';
import {
  APPROVAL_SCHEMA_VERSION,
  checkApprovalId,
  newApprovalId,
  type Approval,
  type ApprovalStatus,
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
export type StateOf = (
  tool: string,
  args: Record<string, unknown>,
) => Promise<{ hash: string; preview: ChangePreview } | null>;

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
  { ok: true; approval: Approval; resolved: boolean } | { ok: false; code: RefusalCode | 'not_found'; message: string };

export type ConsumeResult = { ok: true; call: ParkedCall; approval: Approval } | { ok: false; reason: string };

export interface Approvals extends ApprovalSink {
  get(id: string): Promise<Approval | undefined>;
  list(filter?: { status?: ApprovalStatus; runId?: string }): Promise<Approval[]>;
  /** The approver's roles come from the policy, never from the channel. */
  decide(id: string, decision: DecisionRequest): Promise<DecideResult>;
  /** Whether `decide` would take this vote now; records nothing (a channel asks before it asks for a reason). */
  wouldTake(
    id: string,
    decision: Omit<DecisionRequest, 'comment'>,
  ): Promise<{ ok: true } | { ok: false; code: RefusalCode | 'not_found'; message: string }>;
  /** Records a refusal that never reached an approval (a forged or replayed Slack request). */
  refuse(event: {
    principal: string;
    approvalId: string | null;
    code: string;
    message: string;
    via: string;
  }): Promise<void>;
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

/** An audit entry a change of state appends before it is written. */
interface PlannedEntry {
  principal: string;
  kind: string;
  data: Record<string, unknown>;
}

export function createApprovals(options: ApprovalsOptions): Approvals {
  const { store, audit, clock, logger } = options;
  const notifiers = options.notifiers ?? [];
  const listeners: ((approval: Approval) => void)[] = [];
  const iso = () => new Date(clock.now()).toISOString();

  const record = (approval: Pick<Approval, 'runId'>, principal: string, kind: string, data: Record<string, unknown>) =>
    audit.append({ runId: approval.runId, principal, kind, data });

  /**
   * Entries are durable before the state they describe: a failed append leaves the record
   * as it was (and nothing executes on it). Should the write fail after its entries were
   * appended, the log says so too, so no entry stands for a change that never landed.
   */
  async function notApplied(runId: string | null, approvalId: string, kinds: string[], err: unknown): Promise<void> {
    if (kinds.length === 0) return;
    await audit
      .append({
        runId,
        principal: 'system:approvals',
        kind: 'approval.not_applied',
        data: { approvalId, entries: kinds, reason: describeError(err) },
      })
      .catch((e: unknown) =>
        logger.error(
          { err: e, approvalId, entries: kinds },
          'an approval change was audited but not stored, and recording that failed too',
        ),
      );
  }

  async function audited(id: string, plan: (current: Approval) => { next: Approval; entries: PlannedEntry[] } | null) {
    const written: string[] = [];
    let runId: string | null = null;
    try {
      return await store.transition(id, async (current) => {
        const step = plan(current);
        if (!step) return null;
        runId = current.runId;
        for (const e of step.entries) {
          await record(current, e.principal, e.kind, e.data);
          written.push(e.kind);
        }
        return step.next;
      });
    } catch (err) {
      await notApplied(runId, id, written, err);
      throw err;
    }
  }

  // Channels are told after the store and the audit log have it; a channel that is down
  // must not stop a decision taken through another one.
  async function notify(approval: Approval): Promise<void> {
    await Promise.all(
      notifiers.map((n) =>
        n
          .updated(approval)
          .catch((err: unknown) =>
            logger.warn({ err, approvalId: approval.id, channel: n.name }, 'could not update the approval message'),
          ),
      ),
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
    const channels = [
      ...notifiers.map((n) => `${n.name[0]!.toUpperCase()}${n.name.slice(1)}`),
      `HTTP (POST /v1/approvals/${id}/decision)`,
      `the CLI (mlops-agent approvals approve|deny ${id})`,
    ];
    return `${channels.slice(0, -1).join(', ')} or ${channels.at(-1)}`;
  }

  async function expire(approval: Approval, why: string, kind: 'time' | 'moot'): Promise<Approval | null> {
    const at = iso();
    const result = await audited(approval.id, (current) =>
      current.status === 'pending'
        ? {
            next: { ...current, status: 'expired', resolvedAt: at, resolution: why },
            entries: [
              {
                principal: 'system:approvals',
                kind: 'approval.expired',
                data: { approvalId: approval.id, tool: approval.tool, reason: why, moot: kind === 'moot' },
              },
            ],
          }
        : null,
    );
    if (!result?.changed) return null;
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
        required: {
          roles: requirement?.roles ?? [],
          count: requirement?.count ?? 1,
          ...(requirement?.eachRole ? { eachRole: true } : {}),
        },
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
      // Recorded, then stored: an approval nobody can find in the log never exists.
      await record(approval, call.principal.id, 'approval.requested', {
        approvalId: approval.id,
        callId: call.callId,
        tool: call.tool,
        argsHash: approval.argsHash,
        required: approval.required,
        expiresAt: approval.expiresAt,
        preview: approval.preview,
        ...(call.principal.requester ? { requester: call.principal.requester } : {}),
      });
      try {
        await store.create(approval);
      } catch (err) {
        await notApplied(approval.runId, approval.id, ['approval.requested'], err);
        throw err;
      }
      for (const n of notifiers) {
        try {
          const ref = await n.requested(approval);
          await store.update(approval.id, (current) => ({
            ...current,
            notices: { ...current.notices, [n.name]: ref },
          }));
        } catch (err) {
          logger.warn(
            { err, approvalId: approval.id, channel: n.name },
            'could not announce the approval; it can still be decided over HTTP or the CLI',
          );
        }
      }
      return { approvalId: approval.id, where: where(approval.id) };
    },

    async wouldTake(id, decision) {
      const approval = await store.get(checkApprovalId(id));
      if (!approval) return { ok: false, code: 'not_found', message: `no approval ${id}` };
      const { approverId, ...rest } = decision;
      const applied = applyVote(
        approval,
        { ...rest, comment: null, approver: { id: approverId, roles: options.rolesOf(approverId) } },
        clock.now(),
      );
      return applied.ok ? { ok: true } : applied;
    },

    async decide(id, decision) {
      checkApprovalId(id);
      const { approverId, ...rest } = decision;
      const vote: VoteRequest = { ...rest, approver: { id: approverId, roles: options.rolesOf(approverId) } };
      let refusal: { code: RefusalCode; message: string } | null = null;
      let resolvedNow = false;
      const now = clock.now();
      const base = { approvalId: id, approver: vote.approver.id, verdict: vote.verdict, via: vote.via };
      // Judged on the stored value while it is held; the vote (and the grant or denial it
      // completes) is in the audit log before the approval changes.
      const result = await audited(id, (current) => {
        const applied = applyVote(current, vote, now);
        if (!applied.ok) {
          refusal = applied;
          return null;
        }
        refusal = null;
        resolvedNow = applied.resolved;
        const next = applied.approval;
        const entries: PlannedEntry[] = [
          {
            principal: vote.approver.id,
            kind: 'approval.vote',
            data: { ...base, comment: vote.comment, roles: next.votes.at(-1)?.roles ?? [] },
          },
        ];
        if (resolvedNow)
          entries.push({
            principal: vote.approver.id,
            kind: `approval.${next.status}`,
            data: { approvalId: id, tool: next.tool, resolution: next.resolution },
          });
        return { next, entries };
      });
      if (!result) {
        await record({ runId: null }, vote.approver.id, 'approval.refused', {
          ...base,
          code: 'not_found',
          reason: `no approval ${id}`,
        });
        return { ok: false, code: 'not_found', message: `no approval ${id}` };
      }
      const refused = refusal as { code: RefusalCode; message: string } | null;
      if (refused) {
        await record(result.approval, vote.approver.id, 'approval.refused', {
          ...base,
          code: refused.code,
          reason: refused.message,
        });
        // A decision that arrives after the deadline finds it expired: make that official.
        if (refused.code === 'expired')
          await expire(result.approval, `expired at ${result.approval.expiresAt} without enough approvals`, 'time');
        return { ok: false, ...refused };
      }
      const approval = result.approval;
      await notify(approval);
      if (resolvedNow) resolved(approval);
      return { ok: true, approval, resolved: resolvedNow };
    },

    async refuse(event) {
      await audit.append({
        runId: null,
        principal: event.principal,
        kind: 'approval.refused',
        data: { approvalId: event.approvalId, code: event.code, reason: event.message, via: event.via },
      });
    },

    async consume(approvalId) {
      let approval: Approval | undefined;
      try {
        approval = await store.get(checkApprovalId(approvalId));
      } catch (err) {
        return {
          ok: false,
          reason: `approval ${approvalId} could not be read (${publicMessage(err)}); nothing was executed`,
        };
      }
      if (!approval) return { ok: false, reason: `no approval ${approvalId}; nothing was executed` };
      if (approval.status !== 'granted')
        return {
          ok: false,
          reason: `approval ${approvalId} is ${approval.status}${approval.resolution ? ` (${approval.resolution})` : ''}; nothing was executed`,
        };
      if (approval.consumedAt)
        return {
          ok: false,
          reason: `approval ${approvalId} was already used at ${approval.consumedAt}; a grant executes its call once`,
        };
      // The stored arguments must still be the ones people approved.
      if (argsHashOf(approval.args) !== approval.argsHash)
        return {
          ok: false,
          reason: `approval ${approvalId}: the stored arguments no longer match their hash; nothing was executed`,
        };

      const state = await options.stateOf(approval.tool, approval.args).catch(() => null);
      const moot = approval.stateHash !== null && state?.hash !== approval.stateHash;
      const at = iso();
      const mootReason = `approval ${approvalId} is moot: what ${approval.tool} would change has changed since it was approved${state ? ` (now: ${state.preview.now})` : ''}; nothing was executed`;
      // `approval.consumed` is durable before the grant is marked used: a failed append
      // leaves the grant unused and nothing executed, and a later sweep tries again.
      const taken = await audited(approvalId, (current) => {
        if (current.status !== 'granted' || current.consumedAt) return null;
        if (moot) {
          return {
            next: {
              ...current,
              consumedAt: at,
              outcome: {
                status: 'refused',
                summary: 'not executed: what it would change has changed since it was approved',
                at,
              },
            },
            entries: [
              {
                principal: 'system:approvals',
                kind: 'approval.moot',
                data: { approvalId, tool: approval.tool, reason: mootReason },
              },
            ],
          };
        }
        return {
          next: { ...current, consumedAt: at },
          entries: [
            {
              principal: approval.requestedBy.id,
              kind: 'approval.consumed',
              data: {
                approvalId,
                callId: approval.callId,
                tool: approval.tool,
                argsHash: approval.argsHash,
                idempotencyKey: approval.idempotencyKey,
              },
            },
          ],
        };
      });
      if (!taken?.changed)
        return {
          ok: false,
          reason: `approval ${approvalId} was taken by another worker; a grant executes its call once`,
        };
      if (moot) {
        await notify(taken.approval);
        return { ok: false, reason: mootReason };
      }
      const call: ParkedCall = {
        runId: approval.runId,
        callId: approval.callId,
        principal: approval.requestedBy,
        tool: approval.tool,
        args: approval.args,
        risk: approval.risk,
        decision: {
          effect: 'require_approval',
          ruleId: approval.rule.id,
          reason: approval.rule.reason,
          policy: approval.rule.policy,
        },
        idempotencyKey: approval.idempotencyKey,
      };
      return { ok: true, call, approval: taken.approval };
    },

    async recordOutcome(approvalId, outcome) {
      const at = iso();
      const stored: CallEnd & { at: string } = { ...outcome, at };
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
          done = await expire(
            approval,
            `expired at ${approval.expiresAt} without enough approvals (${approval.votes.length} vote(s) of ${approval.required.count} needed)`,
            'time',
          );
        } else if (moot && approval.stateHash !== null) {
          const state = await options.stateOf(approval.tool, approval.args).catch((err: unknown) => {
            logger.warn({ err, approvalId: approval.id }, 'could not read the state an approval would change');
            return undefined;
          });
          // Unknown (a backend hiccup) is not moot: the check runs again next sweep, and consume checks once more.
          if (state !== undefined && state?.hash !== approval.stateHash) {
            done = await expire(
              approval,
              `expired as moot: what it would change has changed since it was requested${state ? ` (now: ${state.preview.now})` : ''}`,
              'moot',
            );
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
