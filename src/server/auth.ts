// Bearer-token auth for every route but the public ones (/healthz, the OAuth discovery
// 404s) and those that check callers themselves (/mcp, Slack's signed routes). A route
// names the scope it needs in its config (`{ config: { scope: 'alerts' } }`); a token
// without it gets 403 naming the scope. Tokens resolve through api-tokens.ts, as /mcp's do.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { createTokenResolver, missingScope, type ApiToken, type Caller, type Scope } from '../api-tokens.js';

export type { ApiToken } from '../api-tokens.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the auth hook on authenticated routes. */
    principal: string | null;
    /** The token's principal and scopes, on authenticated routes. */
    caller: Caller | null;
  }
  interface FastifyContextConfig {
    /** The scope a token needs for this route. */
    scope?: Scope;
    /** Answered without a token. */
    public?: boolean;
  }
}

export function registerAuth(
  app: FastifyInstance,
  tokens: readonly ApiToken[],
  options: { skip?: (routeUrl: string) => boolean } = {},
): void {
  const resolve = createTokenResolver(tokens);
  app.decorateRequest('principal', null);
  app.decorateRequest('caller', null);
  app.addHook('onRequest', async (request: FastifyRequest, reply) => {
    // The matched route, not the raw URL: an unknown path has none and needs a token like any other.
    const route = request.routeOptions.url;
    if (request.routeOptions.config?.public === true || (route !== undefined && options.skip?.(route))) return;
    const caller = resolve(request.headers.authorization);
    if (caller === null) {
      const message =
        tokens.length === 0
          ? 'no API tokens are configured (set MLOPS_AGENT_API_TOKEN or server.tokens), so every request is refused'
          : request.headers.authorization
            ? 'the bearer token is not valid'
            : 'an Authorization: Bearer <token> header is required';
      return reply
        .code(401)
        .header('www-authenticate', 'Bearer realm="mlops-agent"')
        .send({ error: 'unauthorized', message });
    }
    const scope = request.routeOptions.config?.scope;
    const missing = scope ? missingScope(caller, scope) : null;
    if (missing) return reply.code(403).send({ error: 'missing_scope', scope, message: missing });
    request.caller = caller;
    request.principal = caller.principal;
  });
}

/** True when the caller may see everything; without `read` a principal sees only its own runs and approvals. */
export function readsAll(request: FastifyRequest): boolean {
  return request.caller?.scopes.has('read') === true;
}

/**
 * OAuth-aware MCP clients look for protected-resource (RFC 9728) and authorization-server
 * metadata before they use a bearer token. This server has neither: a plain 404 (not a
 * 401) tells them so, and they fall back to the token they were given.
 */
export function registerOauthDiscovery404(app: FastifyInstance): void {
  const none = { public: true } as const;
  app.get('/.well-known/*', { config: none }, async (request, reply) =>
    reply.code(404).send({
      error: 'not_found',
      message: `no ${request.url.split('?')[0]}: this server takes static bearer tokens (server.tokens), not OAuth`,
    }),
  );
}
