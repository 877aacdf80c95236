// Bearer-token auth for every route but /healthz (and /mcp, whose handler checks the same
// tokens itself). Tokens are compared as SHA-256 digests with timingSafeEqual, every
// token every time, so timing says nothing about which token or how much of one matched.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';

export interface ApiToken {
  token: string;
  /** The policy principal requests with this token act as, e.g. `user:operator`. */
  principal: string;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the auth hook on authenticated routes. */
    principal: string | null;
  }
}

const digest = (s: string) => createHash('sha256').update(s).digest();

export function tokenMatcher(tokens: readonly ApiToken[]): (header: string | undefined) => string | null {
  const known = tokens.map((t) => ({ hash: digest(t.token), principal: t.principal }));
  return (header) => {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
    if (!match) return null;
    const given = digest(match[1]!);
    let found: string | null = null;
    for (const t of known) if (timingSafeEqual(t.hash, given) && found === null) found = t.principal;
    return found;
  };
}

const PUBLIC = new Set(['/healthz']);

export function registerAuth(app: FastifyInstance, tokens: readonly ApiToken[], options: { skip?: (path: string) => boolean } = {}): void {
  const principalOf = tokenMatcher(tokens);
  app.decorateRequest('principal', null);
  app.addHook('onRequest', async (request: FastifyRequest, reply) => {
    const path = request.url.split('?')[0] ?? '';
    if (PUBLIC.has(path) || options.skip?.(path)) return;
    const principal = principalOf(request.headers.authorization);
    if (principal === null) {
      const message =
        tokens.length === 0
          ? 'no API tokens are configured (set MLOPS_AGENT_API_TOKEN or server.tokens), so every request is refused'
          : request.headers.authorization
            ? 'the bearer token is not valid'
            : 'an Authorization: Bearer <token> header is required';
      return reply.code(401).header('www-authenticate', 'Bearer realm="mlops-agent"').send({ error: 'unauthorized', message });
    }
    request.principal = principal;
  });
}
