// The Streamable HTTP side of the MCP server, for `serve` to mount at /mcp: bearer-token
// auth (the same resolver and scopes as the HTTP routes), a Host allow-list and an Origin
// allow-list against DNS rebinding, and one transport (and one server) per MCP session,
// so many clients can be connected at once, none of them holding more than its share.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import { createTokenResolver, missingScope, type ApiToken, type Caller } from '../api-tokens.js';
import type { Logger } from '../logger.js';
import { guardRequests } from './request-guard.js';
import type { Principal } from '../gate/index.js';

export interface McpHttpOptions {
  /** The API tokens; a caller needs the `mcp` scope, and its principal is `mcp:<token's principal>`. */
  tokens: readonly ApiToken[];
  /** Origins a browser may call from, e.g. `http://localhost:3000`. Requests without an Origin are not from a browser page and pass. */
  allowedOrigins?: readonly string[];
  /** Host header names (port-agnostic) answered besides loopback (localhost, 127.0.0.1, [::1]). */
  allowedHosts?: readonly string[];
  /** A fresh server for one session, acting as `principal` for `caller` (whose scopes say what it may read). */
  createServer: (principal: Principal, caller: Caller) => McpServer;
  /** Open sessions in all (default 100). */
  maxSessions?: number;
  /** Open sessions one principal may hold (default 10), so one token cannot lock everyone else out. */
  sessionsPerPrincipal?: number;
  /** A session with no request for this long is closed (default 5 minutes); clients that vanish without a DELETE would otherwise hold it. */
  idleTimeoutMs?: number;
  /** Larger request bodies get 413 (serve passes server.bodyLimitBytes). */
  maxBodyBytes?: number;
  logger?: Logger;
}

export interface McpHttpHandler {
  (req: IncomingMessage, res: ServerResponse): Promise<void>;
  /** Open sessions. */
  sessionCount(): number;
  /** Closes every session. */
  close(): Promise<void>;
}

interface Session {
  transport: StreamableHTTPServerTransport;
  server: McpServer;
  identity: string;
  idle: NodeJS.Timeout | null;
}

export const LOOPBACK_HOSTS: readonly string[] = ['localhost', '127.0.0.1', '[::1]'];

/** The Host header's name without its port, lower-cased; null when it is missing or not a host. */
function hostName(header: string | undefined): string | null {
  if (!header) return null;
  try {
    const url = new URL(`http://${header}`);
    // A header that carries more than host[:port] (a path, credentials) is not a Host.
    if (url.username || url.password || url.pathname !== '/' || url.search || url.hash) return null;
    return url.hostname.toLowerCase();
  } catch {
    return null;
  }
}

function fail(res: ServerResponse, status: number, message: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify({ jsonrpc: '2.0', error: { code: -32000, message }, id: null }));
}

async function readJson(req: IncomingMessage, limit: number): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw Object.assign(new Error(`request body over ${limit} bytes`), { status: 413 });
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'), refuseProtoKeys);
  } catch (err) {
    if ((err as { status?: number }).status === 400) throw err;
    throw Object.assign(new Error(`request body is not JSON: ${(err as Error).message}`), { status: 400 });
  }
}

/**
 * As Fastify refuses them on every other route: JSON.parse makes `__proto__` an own key,
 * but the MCP SDK copies arguments by assignment, which turns it into the prototype of
 * what the gate validates, so values could reach a tool unseen by its schema.
 */
function refuseProtoKeys(key: string, value: unknown): unknown {
  if (
    key === '__proto__' ||
    (key === 'constructor' && typeof value === 'object' && value !== null && Object.hasOwn(value, 'prototype'))
  ) {
    throw Object.assign(new Error(`request body has a "${key}" key, which is not accepted`), { status: 400 });
  }
  return value;
}

export function createMcpHttpHandler(options: McpHttpOptions): McpHttpHandler {
  const { createServer, logger } = options;
  const maxSessions = options.maxSessions ?? 100;
  const perPrincipal = options.sessionsPerPrincipal ?? 10;
  const maxBodyBytes = options.maxBodyBytes ?? 1024 * 1024;
  const idleTimeoutMs = options.idleTimeoutMs ?? 5 * 60_000;
  const allowedOrigins = new Set(options.allowedOrigins ?? []);
  const allowedHosts = new Set([
    ...LOOPBACK_HOSTS,
    ...(options.allowedHosts ?? []).map((h) => hostName(h) ?? h.toLowerCase()),
  ]);
  const resolve = createTokenResolver(options.tokens);
  const sessions = new Map<string, Session>();
  // Sessions being opened count too: initialize requests racing each other must not pass the limit together.
  const opening = new Map<string, number>();

  const held = (identity: string) => {
    let n = opening.get(identity) ?? 0;
    for (const s of sessions.values()) if (s.identity === identity) n++;
    return n;
  };

  function touch(session: Session): void {
    if (session.idle) clearTimeout(session.idle);
    session.idle = setTimeout(() => {
      logger?.info(
        { sessionId: session.transport.sessionId, identity: session.identity },
        'mcp session closed after being idle',
      );
      void session.server.close();
    }, idleTimeoutMs).unref();
  }

  const handler = (async (req, res) => {
    try {
      // DNS rebinding: a page on evil.example whose name now points at this machine sends Host: evil.example.
      const host = hostName(req.headers.host);
      if (host === null || !allowedHosts.has(host)) {
        return fail(
          res,
          403,
          `Host ${req.headers.host?.slice(0, 200) ?? '(none)'} is not allowed to call this MCP endpoint; add it to server.mcp.allowedHosts`,
        );
      }
      const origin = req.headers.origin;
      if (origin !== undefined && !allowedOrigins.has(origin))
        return fail(res, 403, `Origin ${origin.slice(0, 200)} is not allowed to call this MCP endpoint`);
      const caller = resolve(req.headers.authorization);
      if (caller === null) {
        const why = req.headers.authorization
          ? 'the bearer token is not valid'
          : 'an Authorization: Bearer <token> header is required';
        return fail(res, 401, why, { 'www-authenticate': 'Bearer realm="mlops-agent"' });
      }
      const missing = missingScope(caller, 'mcp');
      if (missing) return fail(res, 403, missing);
      const identity = caller.principal;
      const sessionId = req.headers['mcp-session-id'];
      if (typeof sessionId === 'string') {
        const session = sessions.get(sessionId);
        if (!session) return fail(res, 404, `no MCP session ${sessionId.slice(0, 100)}; initialize a new one`);
        // A session acts for whoever opened it; another token may not ride on it.
        if (session.identity !== identity) return fail(res, 403, 'this MCP session belongs to another token');
        touch(session);
        const body = req.method === 'POST' ? await readJson(req, maxBodyBytes) : undefined;
        return await session.transport.handleRequest(req, res, body);
      }
      if (req.method !== 'POST')
        return fail(res, 400, 'an mcp-session-id header is required; start a session with an initialize POST');
      const body = await readJson(req, maxBodyBytes);
      if (!isInitializeRequest(body))
        return fail(res, 400, 'no mcp-session-id header, and the body is not an initialize request');
      if (held(identity) >= perPrincipal) {
        return fail(
          res,
          429,
          `${identity} already holds ${perPrincipal} open MCP sessions (server.mcp.sessionsPerPrincipal); close one (DELETE /mcp with its mcp-session-id) or wait for one to idle out`,
          {
            'retry-after': String(Math.ceil(idleTimeoutMs / 1000)),
          },
        );
      }
      if (sessions.size >= maxSessions)
        return fail(res, 503, `too many open MCP sessions (${maxSessions}); close one and retry`);

      opening.set(identity, (opening.get(identity) ?? 0) + 1);
      let counted = true;
      const settle = () => {
        if (!counted) return;
        counted = false;
        const n = (opening.get(identity) ?? 1) - 1;
        if (n > 0) opening.set(identity, n);
        else opening.delete(identity);
      };
      try {
        const server = createServer({ id: `mcp:${identity}`, roles: [] }, caller);
        const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
          sessionIdGenerator: () => randomUUID(),
          onsessioninitialized: (id) => {
            settle();
            const session: Session = { transport, server, identity, idle: null };
            sessions.set(id, session);
            touch(session);
          },
        });
        transport.onclose = () => {
          const session = transport.sessionId ? sessions.get(transport.sessionId) : undefined;
          if (session?.idle) clearTimeout(session.idle);
          if (transport.sessionId) sessions.delete(transport.sessionId);
        };
        await server.connect(transport);
        guardRequests(transport);
        await transport.handleRequest(req, res, body);
      } finally {
        settle();
      }
    } catch (err) {
      const status = (err as { status?: number }).status ?? 500;
      if (status === 500) logger?.error({ err }, 'mcp http request failed');
      if (!res.headersSent)
        fail(res, status, status === 500 ? 'internal error; see the server log' : (err as Error).message);
      else res.end();
    }
  }) as McpHttpHandler;

  handler.sessionCount = () => sessions.size;
  handler.close = async () => {
    const open = [...sessions.values()];
    sessions.clear();
    for (const s of open) if (s.idle) clearTimeout(s.idle);
    await Promise.allSettled(open.map((s) => s.server.close()));
  };
  return handler;
}
