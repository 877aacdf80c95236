// The approvals room: parked calls waiting for people, their store (files or Redis), the
// rules of deciding, and what happens after a decision or when nobody decides.
export {
  APPROVAL_SCHEMA_VERSION,
  APPROVAL_STATUSES,
  checkApprovalId,
  type Approval,
  type ApprovalStatus,
  type ApprovalVote,
  type ChangePreview,
  type DecisionChannel,
  type Verdict,
} from './approval.js';
export type { ApprovalFilter, ApprovalStore } from './approval-store.js';
export { createFileApprovalStore } from './file-approval-store.js';
export { createRedisApprovalStore, type RedisApprovalStoreOptions } from './redis-approval-store.js';
export {
  applyVote,
  coversEachRole,
  isOwn,
  personOf,
  type Approver,
  type RefusalCode,
  type VoteRequest,
  type VoteResult,
} from './vote.js';
export {
  createApprovals,
  type ApprovalNotifier,
  type Approvals,
  type ApprovalsOptions,
  type DecideResult,
  type DecisionRequest,
  type StateOf,
} from './approvals.js';
export { createApprovalSweeper, type ApprovalSweeper, type ApprovalSweeperDeps } from './approval-sweeper.js';
export { stillNeeded } from './still-needed.js';
export { stateFromTools } from './state-from-tools.js';
export { pendingApprovalsFrom } from './pending-lookup.js';
