// A local server speaking the OpenAI /v1/chat/completions protocol with tool calls: it
// replays scripted replies in order and records every request.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type OpenAiScriptedReply =
  | { body: unknown; delayMs?: number }
  | { status: number; message?: string; headers?: Record<string, string>; delayMs?: number }
  | { rawBody: string; delayMs?: number };

export interface RecordedOpenAiRequest {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  body: any;
}

export interface FakeOpenAiServer {
  /** Ends in /v1, like OPENAI_BASE_URL. */
  baseUrl: string;
  requests: RecordedOpenAiRequest[];
  script(...replies: OpenAiScriptedReply[]): void;
  remaining(): number;
  close(): Promise<void>;
}

let nextId = 0;

/** `arguments` is sent as the protocol does, a JSON string, unless given as a string already. */
export function toolCallsReply(
  calls: { name: string; args?: unknown }[],
  options: { text?: string; usage?: [number, number] } = {},
): OpenAiScriptedReply {
  const toolCalls = calls.map((c) => ({
    id: `call_${++nextId}`,
    type: 'function',
    function: { name: c.name, arguments: typeof c.args === 'string' ? c.args : JSON.stringify(c.args ?? {}) },
  }));
  return {
    body: completion(
      { role: 'assistant', content: options.text ?? null, tool_calls: toolCalls },
      'tool_calls',
      options.usage,
    ),
  };
}

export function chatTextReply(text: string, usage?: [number, number]): OpenAiScriptedReply {
  return { body: completion({ role: 'assistant', content: text }, 'stop', usage) };
}

export function completion(message: unknown, finishReason: string, usage: [number, number] = [10, 5]) {
  return {
    id: `chatcmpl-${++nextId}`,
    object: 'chat.completion',
    model: 'fake-model',
    choices: [{ index: 0, message, finish_reason: finishReason }],
    usage: { prompt_tokens: usage[0], completion_tokens: usage[1], total_tokens: usage[0] + usage[1] },
  };
}

export async function startFakeOpenAiServer(): Promise<FakeOpenAiServer> {
  const queue: OpenAiScriptedReply[] = [];
  const requests: RecordedOpenAiRequest[] = [];
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
        // Kept as text for the test to inspect.
      }
      requests.push({ method: req.method ?? '', path: req.url ?? '', headers: req.headers, body });
      if (req.method !== 'POST' || req.url !== '/v1/chat/completions') {
        return sendError(res, { status: 404, message: `fake-openai-server: no route for ${req.method} ${req.url}` });
      }
      const reply = queue.shift();
      if (!reply)
        return sendError(res, { status: 500, message: 'fake-openai-server: no scripted reply left for this request' });
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
    baseUrl: `http://127.0.0.1:${port}/v1`,
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
  reply: { status: number; message?: string; headers?: Record<string, string> },
): void {
  const error = {
    message: reply.message ?? `HTTP ${reply.status}`,
    type: reply.status >= 500 ? 'server_error' : 'invalid_request_error',
    code: null,
  };
  res.writeHead(reply.status, { 'content-type': 'application/json', ...reply.headers }).end(JSON.stringify({ error }));
}
