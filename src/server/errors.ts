// One error handler for the server: who is at fault decides the status, and nothing a
// client sends can crash the process or leak a stack trace.
import type { FastifyError, FastifyInstance } from 'fastify';
import type { z } from 'zod';
import { UpstreamError, UserError } from '../errors.js';
import { publicMessage, redactPaths } from '../public-message.js';
import { describeValidation } from '../validation.js';

/** A request the server refuses: what was wrong, the first five issues. */
export function invalid(what: string, error: z.ZodError): UserError {
  return new UserError(`invalid ${what}: ${describeValidation(error, '(body)', 5)}`);
}

export function registerErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError | Error, request, reply) => {
    if (err instanceof UserError)
      return reply
        .code(err.code === 'not_found' ? 404 : 400)
        .send({ error: err.code, message: redactPaths(err.message) });
    if (err instanceof UpstreamError) {
      request.log.warn({ err }, 'a system we depend on failed');
      if (err.retryable)
        return reply
          .code(503)
          .header('retry-after', '5')
          .send({ error: err.code, message: redactPaths(err.message) });
      return reply.code(502).send({ error: err.code, message: redactPaths(err.message) });
    }
    // Fastify's own client errors (bad JSON, body too large, wrong content type) carry a 4xx.
    const status = (err as FastifyError).statusCode;
    if (typeof status === 'number' && status >= 400 && status < 500) {
      return reply
        .code(status)
        .send({ error: (err as FastifyError).code ?? 'bad_request', message: publicMessage(err) });
    }
    request.log.error({ err }, 'request failed');
    return reply.code(500).send({ error: 'internal', message: 'internal error; see the server log' });
  });
  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send({ error: 'not_found', message: `no route ${request.method} ${request.url.split('?')[0]}` }),
  );
}
