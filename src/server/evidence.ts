// GET /v1/runs/:id/evidence: one run's evidence bundle (JSON), or with ?format=html the same
// bundle as a self-contained report page. Behind the bearer tokens like every /v1 route.
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { renderEvidenceReport, type EvidenceExporter } from '../audit/index.js';
import { UserError } from '../errors.js';
import { describeValidation } from '../validation.js';

const query = z.object({ format: z.enum(['json', 'html']).default('json') }).strict();

export function registerEvidenceRoute(app: FastifyInstance, deps: { evidence: EvidenceExporter }): void {
  app.get<{ Params: { id: string } }>('/v1/runs/:id/evidence', async (request, reply) => {
    const parsed = query.safeParse(request.query);
    if (!parsed.success)
      throw new UserError(
        `invalid query: ${describeValidation(parsed.error, '(query)')} (use ?format=json or ?format=html)`,
      );
    const { bundle, verification } = await deps.evidence.export(request.params.id);
    request.log.info(
      { runId: bundle.runId, principal: request.principal, status: verification.status },
      'evidence exported',
    );
    const name = `evidence-${bundle.runId.replace(/[^\w.-]/g, '_')}`;
    if (parsed.data.format === 'html') {
      return reply
        .type('text/html; charset=utf-8')
        .header('content-disposition', `inline; filename="${name}.html"`)
        .send(renderEvidenceReport(bundle, verification));
    }
    return reply
      .header('content-disposition', `attachment; filename="${name}.json"`)
      .header('x-evidence-status', verification.status)
      .send(bundle);
  });
}
