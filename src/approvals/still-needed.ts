// What an approval still waits for, in words: for the requester, approvers and Slack.
import type { Approval } from './approval.js';
import { coversEachRole } from './vote.js';

export function stillNeeded(approval: Approval): string {
  if (approval.status !== 'pending') return 'nothing: it is decided';
  const grants = approval.votes.filter((v) => v.verdict === 'grant').map((v) => ({ id: v.by, roles: v.roles }));
  const { roles, count, eachRole } = approval.required;
  const missingCount = Math.max(0, count - grants.length);
  if (eachRole) {
    const uncovered = roles.filter((role) => !coversEachRole(grants, [role]));
    if (uncovered.length > 0)
      return `${Math.max(missingCount, uncovered.length)} more approval(s), including one from each of [${uncovered.join(', ')}]`;
    if (!coversEachRole(grants, roles)) return `approvals from distinct people covering each of [${roles.join(', ')}]`;
  }
  return `${missingCount} more approval(s) from [${roles.join(', ')}]`;
}
