// A local server speaking Gemini's generateContent REST protocol: it replays scripted
// replies in order and records every request, so tests drive the real SDK over real HTTP.
import { startFakeLlmServer, type FakeLlmServer, type RecordedRequest } from './fake-llm-server.js';

export type { RecordedRequest };

export type ScriptedReply =
  /** 200 with this JSON body (a GenerateContentResponse, or anything, to test malformed ones). */
  | { body: unknown; delayMs?: number }
  /** An HTTP error with a Google-style error body. */
  | { status: number; message?: string; details?: unknown[]; headers?: Record<string, string>; delayMs?: number }
  /** 200 with a body that is not JSON. */
  | { rawBody: string; delayMs?: number };

/** `baseUrl` is for `requestOptions.baseUrl`. */
export type FakeGeminiServer = FakeLlmServer<ScriptedReply>;

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

export function startFakeGeminiServer(): Promise<FakeGeminiServer> {
  return startFakeLlmServer<ScriptedReply>({
    name: 'fake-gemini-server',
    refusal(req) {
      // The Gemini API (an API key) or Vertex AI (a project's regional endpoint and an OAuth token).
      const geminiApi = /^\/v1beta\/models\/[^/:]+:generateContent$/.test(req.url ?? '');
      const vertex =
        /^\/v1beta1\/projects\/[^/]+\/locations\/[^/]+\/publishers\/google\/models\/[^/:]+:generateContent$/.test(
          req.url ?? '',
        );
      if (req.method !== 'POST' || (!geminiApi && !vertex))
        return { status: 404, message: `fake-gemini-server: no route for ${req.method} ${req.url}` };
      if (geminiApi && !req.headers['x-goog-api-key'])
        return { status: 401, message: 'fake-gemini-server: missing x-goog-api-key header' };
      if (vertex && !/^Bearer \S+$/.test(String(req.headers.authorization ?? '')))
        return { status: 401, message: 'fake-gemini-server: missing OAuth bearer token' };
      return null;
    },
    errorBody: (reply) => ({
      error: {
        code: reply.status,
        message: reply.message ?? `HTTP ${reply.status}`,
        status: STATUS_NAMES[reply.status] ?? 'UNKNOWN',
        ...(reply.details ? { details: reply.details } : {}),
      },
    }),
  });
}
