// The Streamable HTTP side of the MCP server, for `serve` to mount at /mcp: bearer-token
// auth, an Origin allow-list against DNS rebinding, and one transport (and one server)
// per MCP session, so many clients can be connected at once.
import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import type { Logger } from '../logger.js';
import type { Principal } from '../policy/index.js';

export interface McpHttpOptions {
  /** Bearer token -> identity; the caller's principal is `mcp:<identity>`. */
  tokens: Readonly<Record<string, string>>;
  /** Origins a browser may call from, e.g. `http://localhost:3000`. Requests without an Origin are not from a browser page and pass. */
  allowedOrigins?: readonly string[];
  /** A fresh server for one session, acting as `principal`. */
  createServer: (principal: Principal) => McpServer;
  maxSessions?: number;
  /** A session with no request for this long is closed (default 30 minutes); clients that vanish without a DELETE would otherwise hold it forever. */
  idleTimeoutMs?: number;
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

const digest = (s: string) => createHash('sha256').update(s).digest();

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
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch (err) {
    throw Object.assign(new Error(`request body is not JSON: ${(err as Error).message}`), { status: 400 });
  }
}

export function createMcpHttpHandler(options: McpHttpOptions): McpHttpHandler {
  const { createServer, logger } = options;
  const maxSessions = options.maxSessions ?? 100;
  const maxBodyBytes = options.maxBodyBytes ?? 4 * 1024 * 1024;
  const idleTimeoutMs = options.idleTimeoutMs ?? 30 * 60_000;
  const allowed = new Set(options.allowedOrigins ?? []);
  // Compared as SHA-256 digests, every token every time: equal lengths for timingSafeEqual,
  // and the time taken says nothing about which token (or how much of one) matched.
  const tokens = Object.entries(options.tokens).map(([token, identity]) => ({ hash: digest(token), identity }));
  const sessions = new Map<string, Session>();

  function touch(session: Session): void {
    if (session.idle) clearTimeout(session.idle);
    session.idle = setTimeout(() => {
      logger?.info({ sessionId: session.transport.sessionId, identity: session.identity }, 'mcp session closed after being idle');
      void session.server.close();
    }, idleTimeoutMs).unref();
  }

  function identify(req: IncomingMessage): string | null {
    const header = req.headers.authorization ?? '';
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!match) return null;
    const given = digest(match[1]!);
    let found: string | null = null;
    for (const t of tokens) if (timingSafeEqual(t.hash, given) && found === null) found = t.identity;
    return found;
  }

  const handler = (async (req, res) => {
    try {
      const origin = req.headers.origin;
      if (origin !== undefined && !allowed.has(origin)) return fail(res, 403, `Origin ${origin} is not allowed to call this MCP endpoint`);
      const identity = identify(req);
      if (identity === null) {
        const why = req.headers.authorization ? 'the bearer token is not valid' : 'an Authorization: Bearer <token> header is required';
        return fail(res, 401, why, { 'www-authenticate': 'Bearer realm="mlops-agent"' });
      }
      const sessionId = req.headers['mcp-session-id'];
      if (typeof sessionId === 'string') {
        const session = sessions.get(sessionId);
        if (!session) return fail(res, 404, `no MCP session ${sessionId}; initialize a new one`);
        // A session acts for whoever opened it; another token may not ride on it.
        if (session.identity !== identity) return fail(res, 403, 'this MCP session belongs to another token');
        touch(session);
        const body = req.method === 'POST' ? await readJson(req, maxBodyBytes) : undefined;
        return await session.transport.handleRequest(req, res, body);
      }
      if (req.method !== 'POST') return fail(res, 400, 'an mcp-session-id header is required; start a session with an initialize POST');
      const body = await readJson(req, maxBodyBytes);
      if (!isInitializeRequest(body)) return fail(res, 400, 'no mcp-session-id header, and the body is not an initialize request');
      if (sessions.size >= maxSessions) return fail(res, 503, `too many open MCP sessions (${maxSessions}); close one and retry`);

      const server = createServer({ id: `mcp:${identity}`, roles: [] });
      const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        onsessioninitialized: (id) => {
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
      await transport.handleRequest(req, res, body);
    } catch (err) {
      const status = (err as { status?: number }).status ?? 500;
      if (status === 500) logger?.error({ err }, 'mcp http request failed');
      if (!res.headersSent) fail(res, status, (err as Error).message);
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
