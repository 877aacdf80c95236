// The ApprovalStore port: where approvals live between the request and the last decision
// (files here or Redis), shared by every process that serves, works or decides. Updates
// are compare-and-set, so two approvers clicking at once never lose a vote and a grant is
// consumed once.
import type { Approval, ApprovalStatus } from './approval.js';

export interface ApprovalFilter {
  status?: ApprovalStatus;
  runId?: string;
}

export interface UpdateResult {
  approval: Approval;
  /** False when `change` returned null: the stored approval is as it was. */
  changed: boolean;
}

export interface ApprovalStore {
  /** Stores a new approval; fails if the id exists. */
  create(approval: Approval): Promise<void>;
  get(id: string): Promise<Approval | undefined>;
  /** Oldest first. */
  list(filter?: ApprovalFilter): Promise<Approval[]>;
  /**
   * Applies `change` to the current stored value atomically, across processes: if another
   * writer got in between, `change` is called again on the newer value. `change` returns
   * the next value, or null to leave it. Undefined when there is no such approval.
   */
  update(id: string, change: (current: Approval) => Approval | null): Promise<UpdateResult | undefined>;
  /**
   * Like `update`, but `change` may be async and is called once, on the current value,
   * while the approval is held: nobody else writes it until this write lands (or `change`
   * returns null or throws, which leaves it as it was). The approvals service appends the
   * audit entry inside `change`, so the entry is durable before the state it describes.
   */
  transition(id: string, change: (current: Approval) => Promise<Approval | null>): Promise<UpdateResult | undefined>;
  /** Remembers `key` for `ttlMs`; false when it was already remembered (a replayed request). */
  claimOnce(key: string, ttlMs: number): Promise<boolean>;
  close(): Promise<void>;
}
