// The approvals a serving view lists: pending ones whose call names the model and, when the
// call names an environment, that environment (a retrain names none and touches both).
import type { PendingApprovalRef, PendingApprovals } from '../../tools/index.js';
import type { Approval } from './approval.js';

export function pendingApprovalsFrom(list: (filter: { status: 'pending' }) => Promise<Approval[]>): PendingApprovals {
  return {
    async touching(model, environment) {
      const pending = await list({ status: 'pending' });
      return pending
        .filter(
          (a) =>
            a.args.model === model && (typeof a.args.environment !== 'string' || a.args.environment === environment),
        )
        .map((a): PendingApprovalRef => ({
          approvalId: a.id,
          tool: a.tool,
          args: a.args,
          ruleId: a.rule.id,
          reason: a.rule.reason,
          requestedBy: a.requestedBy.id,
          runId: a.runId,
          expiresAt: a.expiresAt,
        }));
    },
  };
}
