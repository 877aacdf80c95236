// The skeleton both fake LLM servers share: a local HTTP server that records every request,
// replays scripted replies in order (each optionally delayed) and closes without leaving
// timers or sockets behind. Each server adds its routes, auth checks and error body shape.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ErrorReply {
  status: number;
  message?: string;
  headers?: Record<string, string>;
  delayMs?: number;
}

export type LlmReply =
  /** 200 with this JSON body (a real response, or anything, to test malformed ones). */
  | { body: unknown; delayMs?: number }
  /** An HTTP error, with the body the server's `errorBody` makes. */
  | ErrorReply
  /** 200 with a body that is not JSON. */
  | { rawBody: string; delayMs?: number };

export interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  body: any;
}

export interface FakeLlmServer<R extends LlmReply> {
  baseUrl: string;
  requests: RecordedRequest[];
  /** Appends replies to the script. */
  script(...replies: R[]): void;
  /** Replies not yet used. */
  remaining(): number;
  close(): Promise<void>;
}

export interface FakeLlmServerOptions<R extends LlmReply> {
  /** Names the server in its own error messages, e.g. `fake-openai-server`. */
  name: string;
  /** Appended to `http://127.0.0.1:<port>` for `baseUrl` (e.g. `/v1`). */
  basePath?: string;
  /** Why the real API would refuse this request before answering (no route, no key), or null. */
  refusal(req: IncomingMessage): ErrorReply | null;
  /** The JSON error body this API sends for an error reply. */
  errorBody(reply: Extract<R, ErrorReply>): unknown;
}

export async function startFakeLlmServer<R extends LlmReply>(
  options: FakeLlmServerOptions<R>,
): Promise<FakeLlmServer<R>> {
  const queue: R[] = [];
  const requests: RecordedRequest[] = [];
  const timers = new Set<NodeJS.Timeout>();
  const sendError = (res: ServerResponse, reply: ErrorReply) =>
    res
      .writeHead(reply.status, { 'content-type': 'application/json', ...reply.headers })
      .end(JSON.stringify(options.errorBody(reply as Extract<R, ErrorReply>)));

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      let body: unknown = text;
      try {
        body = text === '' ? undefined : JSON.parse(text);
      } catch {
        // Kept as text: a test asserting on the body will show what arrived.
      }
      requests.push({ method: req.method ?? '', path: req.url ?? '', headers: req.headers, body });
      const refusal = options.refusal(req);
      if (refusal) return sendError(res, refusal);
      const reply = queue.shift();
      if (!reply)
        return sendError(res, { status: 500, message: `${options.name}: no scripted reply left for this request` });
      const send = () => {
        if (res.destroyed) return;
        if ('status' in reply) sendError(res, reply);
        else if ('rawBody' in reply) res.writeHead(200, { 'content-type': 'application/json' }).end(reply.rawBody);
        else res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(reply.body));
      };
      if (reply.delayMs) {
        const timer = setTimeout(() => {
          timers.delete(timer);
          send();
        }, reply.delayMs);
        timers.add(timer);
      } else send();
    });
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}${options.basePath ?? ''}`,
    requests,
    script: (...replies) => void queue.push(...replies),
    remaining: () => queue.length,
    close: async () => {
      for (const timer of timers) clearTimeout(timer);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
