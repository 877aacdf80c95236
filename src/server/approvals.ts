// GET /v1/approvals, GET /v1/approvals/:id and POST /v1/approvals/:id/decision: approvals
// over HTTP (the CLI uses these too). The approver is whoever the bearer token stands for;
// the roles come from the policy, never from the request.
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import {
  APPROVAL_STATUSES,
  isOwn,
  stillNeeded,
  type Approval,
  type Approvals,
  type RefusalCode,
} from '../approvals/index.js';
import { readsAll } from './auth.js';
import { invalid } from './errors.js';

const listQuery = z
  .object({
    status: z.enum(APPROVAL_STATUSES as [Approval['status'], ...Approval['status'][]]).optional(),
    runId: z.string().min(1).optional(),
  })
  .strict();
const decisionBody = z
  .object({
    verdict: z.enum(['grant', 'deny']),
    comment: z.string().trim().max(2000).optional(),
    /** The arguments hash the approver was shown; a mismatch refuses the decision. */
    argsHash: z
      .string()
      .regex(/^[0-9a-f]{64}$/, 'must be the 64-hex-digit argsHash of the approval')
      .optional(),
  })
  .strict()
  .refine((b) => b.verdict === 'grant' || (b.comment ?? '') !== '', {
    message: 'a denial needs a comment saying why',
    path: ['comment'],
  });

const STATUS_OF: Record<RefusalCode | 'not_found', number> = {
  not_found: 404,
  not_pending: 409,
  expired: 409,
  already_voted: 409,
  args_mismatch: 409,
  self_approval: 403,
  not_authorised: 403,
};

/** An approval as clients see it: the record plus what it still waits for. */
export function approvalView(approval: Approval) {
  return { ...approval, stillNeeded: stillNeeded(approval) };
}

export function registerApprovalRoutes(app: FastifyInstance, deps: { approvals: Approvals }): void {
  const { approvals } = deps;

  app.get('/v1/approvals', async (request) => {
    const parsed = listQuery.safeParse(request.query);
    if (!parsed.success) throw invalid('query', parsed.error);
    const found = await approvals.list(parsed.data);
    const all = readsAll(request);
    return { approvals: found.filter((a) => all || isOwn(request.principal, a.requestedBy)).map(approvalView) };
  });

  app.get<{ Params: { id: string } }>('/v1/approvals/:id', async (request, reply) => {
    const approval = await approvals.get(request.params.id);
    // Without `read`, another principal's approval is answered like an unknown one.
    if (!approval || !(readsAll(request) || isOwn(request.principal, approval.requestedBy))) {
      return reply.code(404).send({ error: 'not_found', message: `no approval ${request.params.id}` });
    }
    return approvalView(approval);
  });

  app.post<{ Params: { id: string } }>(
    '/v1/approvals/:id/decision',
    { config: { scope: 'approve' } },
    async (request, reply) => {
      const parsed = decisionBody.safeParse(request.body);
      if (!parsed.success) throw invalid('decision', parsed.error);
      const { verdict, comment, argsHash } = parsed.data;
      const approverId = request.principal ?? 'anonymous';
      // The channel is where the decision arrived, never what the request says of itself.
      const result = await approvals.decide(request.params.id, {
        approverId,
        verdict,
        comment: comment || null,
        via: 'http',
        ...(argsHash ? { argsHash } : {}),
      });
      if (!result.ok) return reply.code(STATUS_OF[result.code]).send({ error: result.code, message: result.message });
      request.log.info(
        {
          approvalId: request.params.id,
          approver: approverId,
          verdict,
          resolved: result.resolved,
          status: result.approval.status,
        },
        'approval decision recorded',
      );
      return { resolved: result.resolved, approval: approvalView(result.approval) };
    },
  );
}
