// approval_status: an MCP-only tool that tells a client what became of a call it was told
// is pending approval: votes so far, what is still needed, and once decided the outcome
// of the call itself. It reads the approval and changes nothing, so it is not a gate tool.
import type { CallToolResult, Tool as McpTool } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { isOwn, stillNeeded, type Approval, type Approvals } from '../approvals/index.js';
import { publicMessage } from '../public-message.js';
import { toJsonSchema } from '../../tools/tool-schema.js';
import type { Principal } from '../gate/index.js';
import { describeValidation } from '../validation.js';

export const APPROVAL_STATUS_TOOL = 'approval_status';

const input = z
  .object({
    approvalId: z.string().min(1).describe('The approvalId a pending call returned, e.g. "apr_mwthl1g5_15aff571"'),
  })
  .strict();

const output = z.object({
  approvalId: z.string(),
  tool: z.string(),
  args: z.record(z.unknown()),
  status: z.enum(['pending', 'granted', 'denied', 'expired']),
  stillNeeded: z.string(),
  votes: z.array(
    z.object({
      by: z.string(),
      verdict: z.enum(['grant', 'deny']),
      comment: z.string().nullable(),
      at: z.string(),
      via: z.string(),
    }),
  ),
  expiresAt: z.string(),
  resolution: z.string().nullable(),
  outcome: z
    .object({ status: z.string(), summary: z.string(), output: z.unknown().optional(), at: z.string() })
    .nullable(),
});

export const approvalStatusTool: McpTool = {
  name: APPROVAL_STATUS_TOOL,
  description:
    'Report what became of a tool call that was pending approval: its status (pending, granted, denied, expired), the votes so far, what is still needed, and, once approved, how the call itself ended (it executes exactly once, as soon as the last approval is given).',
  inputSchema: toJsonSchema(input) as McpTool['inputSchema'],
  outputSchema: toJsonSchema(output) as McpTool['outputSchema'],
  annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false },
};

function view(a: Approval): z.infer<typeof output> {
  return {
    approvalId: a.id,
    tool: a.tool,
    args: a.args,
    status: a.status,
    stillNeeded: stillNeeded(a),
    votes: a.votes.map((v) => ({ by: v.by, verdict: v.verdict, comment: v.comment, at: v.at, via: v.via })),
    expiresAt: a.expiresAt,
    resolution: a.resolution,
    outcome: a.outcome,
  };
}

function summary(a: Approval): string {
  if (a.status === 'pending')
    return `Approval ${a.id} for ${a.tool} is pending: ${stillNeeded(a)} needed before ${a.expiresAt}.`;
  if (a.status !== 'granted')
    return `Approval ${a.id} for ${a.tool} was ${a.status}: ${a.resolution ?? ''}. The call was not executed.`;
  if (!a.outcome) return `Approval ${a.id} for ${a.tool} was ${a.resolution ?? 'granted'}; the call is being executed.`;
  return `Approval ${a.id} for ${a.tool} was ${a.resolution ?? 'granted'}; the call ${a.outcome.status === 'executed' ? 'executed' : `was ${a.outcome.status}`}: ${a.outcome.summary}`;
}

/** `onlyOf`: a caller without the `read` scope sees only approvals it asked for. */
export async function approvalStatus(
  approvals: Approvals | undefined,
  args: unknown,
  onlyOf: Principal | null = null,
): Promise<CallToolResult> {
  const error = (text: string): CallToolResult => ({ isError: true, content: [{ type: 'text', text }] });
  if (!approvals) return error('approvals are not available on this server');
  const parsed = input.safeParse(args ?? {});
  if (!parsed.success)
    return error(`invalid arguments for ${APPROVAL_STATUS_TOOL}: ${describeValidation(parsed.error, '(arguments)')}`);
  let approval: Approval | undefined;
  try {
    approval = await approvals.get(parsed.data.approvalId);
  } catch (err) {
    return error(publicMessage(err));
  }
  if (!approval || (onlyOf !== null && !isOwn(onlyOf.id, approval.requestedBy)))
    return error(`no approval ${parsed.data.approvalId}`);
  return { content: [{ type: 'text', text: summary(approval) }], structuredContent: view(approval) };
}
