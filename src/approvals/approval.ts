// An Approval: one parked tool call waiting for authorised humans. It is bound to the
// exact call (tool and a hash of its canonical arguments) and to the state of the world
// it would change; it is stored server-side and a grant is used once.
import { randomBytes } from 'node:crypto';
import type { Risk } from '../../tools/index.js';
import { UserError } from '../errors.js';
import type { CallEnd, Principal } from '../gate/index.js';

export const APPROVAL_SCHEMA_VERSION = 1;

export type ApprovalStatus = 'pending' | 'granted' | 'denied' | 'expired';
export const APPROVAL_STATUSES: readonly ApprovalStatus[] = ['pending', 'granted', 'denied', 'expired'];

export type Verdict = 'grant' | 'deny';
/** Where a decision came from. */
export type DecisionChannel = 'http' | 'cli' | 'slack';

export interface ApprovalVote {
  by: string;
  /** The approver's roles when they voted (from the policy's `roles:` map). */
  roles: string[];
  verdict: Verdict;
  comment: string | null;
  at: string;
  via: DecisionChannel;
}

/** What the call would change, in words, for the people deciding: e.g. the traffic split now and after. */
export interface ChangePreview {
  now: string;
  after: string;
}

/**
 * The result of the approved call once it ran, for callers that were not waiting (MCP
 * clients). `started`: a long-running call (training, a canary) is under way; its run
 * waits for it, and its end replaces this.
 */

export interface Approval {
  schemaVersion: typeof APPROVAL_SCHEMA_VERSION;
  id: string;
  /** The run that parked the call; null for a direct call (MCP client). */
  runId: string | null;
  callId: string;
  tool: string;
  args: Record<string, unknown>;
  /** sha256 of the canonical JSON of `args`: a changed argument needs a new approval. */
  argsHash: string;
  idempotencyKey: string;
  risk: Risk;
  preview: ChangePreview | null;
  /**
   * sha256 of the state the call would change, when the approval was requested. If the
   * world moves (the canary was rolled back) the approval is moot and expires.
   */
  stateHash: string | null;
  /** The policy rule that asked for approval. */
  rule: { id: string | null; reason: string; policy: string };
  required: { roles: string[]; count: number; eachRole?: boolean };
  requestedBy: Principal;
  createdAt: string;
  expiresAt: string;
  status: ApprovalStatus;
  votes: ApprovalVote[];
  resolvedAt: string | null;
  /** Why it ended, in a sentence: who granted or denied, or why it expired. */
  resolution: string | null;
  /** Set when a grant was taken for execution: it is never taken twice. */
  consumedAt: string | null;
  outcome: (CallEnd & { at: string }) | null;
  /** Each channel's own reference to its message about this approval (e.g. Slack channel and ts). */
  notices: Record<string, unknown>;
}

export function newApprovalId(now: number): string {
  return `apr_${now.toString(36)}_${randomBytes(4).toString('hex')}`;
}

export function isResolved(a: Approval): boolean {
  return a.status !== 'pending';
}

const APPROVAL_ID = /^apr_[a-z0-9]{1,16}_[0-9a-f]{8}$/;

/** Ids come from URLs, CLI arguments and Slack payloads: refuse anything else before it reaches a store. */
export function checkApprovalId(id: string): string {
  if (!APPROVAL_ID.test(id))
    throw new UserError(`"${id}" is not an approval id (they look like apr_mwthl1g5_15aff571)`, { code: 'not_found' });
  return id;
}

/** Loads a stored approval, refusing versions this build does not know. */
export function upgradeApproval(raw: unknown, source: string): Approval {
  const a = raw as Partial<Approval> | null;
  if (!a || typeof a !== 'object' || a.schemaVersion !== APPROVAL_SCHEMA_VERSION) {
    throw new UserError(
      `${source}: approval schema version ${String(a?.schemaVersion)} is not supported (this build reads version ${APPROVAL_SCHEMA_VERSION})`,
    );
  }
  return a as Approval;
}
