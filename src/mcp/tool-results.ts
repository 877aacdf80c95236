// Turns a gate outcome into an MCP tool result: what an MCP client reads back from one call.
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { refusedBy } from '../policy/index.js';
import { type GateOutcome } from '../gate/index.js';

/** Named in a pending result when no approval channel took the request. */
export const APPROVALS_TAKEN_BY = 'none: no approval channel is configured';

/**
 * The JSON Schema of a pending-approval result. It is listed beside each tool's own output
 * schema (anyOf), because a compliant client rejects a non-error result whose structured
 * content matches neither.
 */
export const PENDING_APPROVAL_SCHEMA = {
  type: 'object',
  properties: {
    pendingApproval: {
      type: 'object',
      properties: {
        tool: { type: 'string' },
        ruleId: { type: ['string', 'null'] },
        reason: { type: 'string' },
        roles: { type: 'array', items: { type: 'string' } },
        count: { type: 'integer' },
        expiresInMs: { type: ['number', 'null'] },
        approvalId: { type: ['string', 'null'] },
        approvedThrough: { type: 'string' },
      },
      required: ['tool', 'ruleId', 'reason', 'roles', 'count', 'approvalId', 'approvedThrough'],
    },
  },
  required: ['pendingApproval'],
} as const;

function text(...lines: string[]): CallToolResult['content'] {
  return lines.map((t) => ({ type: 'text' as const, text: t }));
}

export function toCallToolResult(tool: string, outcome: GateOutcome): CallToolResult {
  switch (outcome.status) {
    case 'executed':
      // The summary first for people; the JSON too, for clients that ignore structuredContent.
      return {
        content: text(outcome.summary, JSON.stringify(outcome.output)),
        structuredContent: outcome.output as Record<string, unknown>,
      };
    case 'refused': {
      const { decision } = outcome;
      return { isError: true, content: text(`Refused by ${refusedBy(decision)}: ${decision.reason}`) };
    }
    case 'invalid':
      return {
        isError: true,
        content: text(outcome.code === 'not_found' ? `${tool}: not found: ${outcome.error}` : outcome.error),
      };
    case 'failed':
      return { isError: true, content: text(`${tool} failed after the policy allowed it: ${outcome.error}`) };
    case 'waiting':
      // Direct calls are answered when the work ends; only a caller that asked to park gets this.
      return {
        content: text(
          `${tool} started and is still under way: ${outcome.summary} (deadline ${outcome.wait.deadline}).`,
        ),
      };
    case 'pending_approval': {
      const { decision, approvalId, where } = outcome;
      const roles = decision.approval?.roles ?? [];
      const count = decision.approval?.count ?? 1;
      const approvedThrough = where ?? APPROVALS_TAKEN_BY;
      const pendingApproval = {
        tool,
        ruleId: decision.ruleId,
        reason: decision.reason,
        roles,
        count,
        expiresInMs: decision.approval?.expiresInMs ?? null,
        approvalId,
        approvedThrough,
      };
      const idPart = approvalId
        ? ` Approval id: ${approvalId}; it is decided through ${approvedThrough}. Once approved it executes exactly once; follow it with the approval_status tool.`
        : ' No approval was recorded: no approval channel is configured, so this call cannot be approved as it stands.';
      return {
        content: text(
          `Pending approval, not executed: ${tool} needs approval by ${count} of [${roles.join(', ')}] (rule ${decision.ruleId ?? '(none)'}).${idPart}`,
        ),
        structuredContent: { pendingApproval },
      };
    }
  }
}
