// A local server speaking Gemini's generateContent REST protocol: it replays scripted
// replies in order and records every request, so tests drive the real SDK over real HTTP.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type ScriptedReply =
  /** 200 with this JSON body (a GenerateContentResponse, or anything, to test malformed ones). */
  | { body: unknown; delayMs?: number }
  /** An HTTP error with a Google-style error body. */
  | { status: number; message?: string; details?: unknown[]; headers?: Record<string, string>; delayMs?: number }
  /** 200 with a body that is not JSON. */
  | { rawBody: string; delayMs?: number };

export interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  body: any;
}

export interface FakeGeminiServer {
  /** For `requestOptions.baseUrl`. */
  baseUrl: string;
  requests: RecordedRequest[];
  /** Appends replies to the script. */
  script(...replies: ScriptedReply[]): void;
  /** Replies not yet used. */
  remaining(): number;
  close(): Promise<void>;
}

const STATUS_NAMES: Record<number, string> = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
  429: 'RESOURCE_EXHAUSTED',
  500: 'INTERNAL',
  503: 'UNAVAILABLE',
};

export function functionCallReply(
  calls: { name: string; args?: unknown }[],
  options: { text?: string; usage?: [number, number] } = {},
): ScriptedReply {
  const parts: unknown[] = options.text ? [{ text: options.text }] : [];
  for (const call of calls) parts.push({ functionCall: { name: call.name, args: call.args ?? {} } });
  return { body: candidateBody(parts, 'STOP', options.usage) };
}

export function textReply(text: string, usage?: [number, number]): ScriptedReply {
  return { body: candidateBody([{ text }], 'STOP', usage) };
}

export function finishReply(finishReason: string, parts: unknown[] = []): ScriptedReply {
  return { body: candidateBody(parts, finishReason) };
}

export function errorReply(
  status: number,
  message = `scripted ${status}`,
  extra: { details?: unknown[]; headers?: Record<string, string>; delayMs?: number } = {},
): ScriptedReply {
  return { status, message, ...extra };
}

function candidateBody(parts: unknown[], finishReason: string, usage: [number, number] = [10, 5]) {
  return {
    candidates: [{ content: { role: 'model', parts }, finishReason, index: 0 }],
    usageMetadata: { promptTokenCount: usage[0], candidatesTokenCount: usage[1], totalTokenCount: usage[0] + usage[1] },
    modelVersion: 'fake-gemini',
  };
}

export async function startFakeGeminiServer(): Promise<FakeGeminiServer> {
  const queue: ScriptedReply[] = [];
  const requests: RecordedRequest[] = [];
  const timers = new Set<NodeJS.Timeout>();

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
      // The Gemini API (an API key) or Vertex AI (a project's regional endpoint and an OAuth token).
      const geminiApi = /^\/v1beta\/models\/[^/:]+:generateContent$/.test(req.url ?? '');
      const vertex =
        /^\/v1beta1\/projects\/[^/]+\/locations\/[^/]+\/publishers\/google\/models\/[^/:]+:generateContent$/.test(
          req.url ?? '',
        );
      if (req.method !== 'POST' || (!geminiApi && !vertex)) {
        return sendError(res, { status: 404, message: `fake-gemini-server: no route for ${req.method} ${req.url}` });
      }
      if (geminiApi && !req.headers['x-goog-api-key'])
        return sendError(res, { status: 401, message: 'fake-gemini-server: missing x-goog-api-key header' });
      if (vertex && !/^Bearer \S+$/.test(String(req.headers.authorization ?? '')))
        return sendError(res, { status: 401, message: 'fake-gemini-server: missing OAuth bearer token' });
      const reply = queue.shift();
      if (!reply)
        return sendError(res, { status: 500, message: 'fake-gemini-server: no scripted reply left for this request' });
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
    baseUrl: `http://127.0.0.1:${port}`,
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

function sendError(
  res: ServerResponse,
  reply: { status: number; message?: string; details?: unknown[]; headers?: Record<string, string> },
): void {
  const error = {
    code: reply.status,
    message: reply.message ?? `HTTP ${reply.status}`,
    status: STATUS_NAMES[reply.status] ?? 'UNKNOWN',
    ...(reply.details ? { details: reply.details } : {}),
  };
  res.writeHead(reply.status, { 'content-type': 'application/json', ...reply.headers }).end(JSON.stringify({ error }));
}
