// A local server speaking the OpenAI /v1/chat/completions protocol with tool calls: it
// replays scripted replies in order and records every request.
import { startFakeLlmServer, type FakeLlmServer, type LlmReply, type RecordedRequest } from './fake-llm-server.js';

export type OpenAiScriptedReply = LlmReply;

export type RecordedOpenAiRequest = RecordedRequest;

/** `baseUrl` ends in /v1, like OPENAI_BASE_URL. */
export type FakeOpenAiServer = FakeLlmServer<OpenAiScriptedReply>;

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

export function startFakeOpenAiServer(): Promise<FakeOpenAiServer> {
  return startFakeLlmServer<OpenAiScriptedReply>({
    name: 'fake-openai-server',
    basePath: '/v1',
    refusal: (req) =>
      req.method !== 'POST' || req.url !== '/v1/chat/completions'
        ? { status: 404, message: `fake-openai-server: no route for ${req.method} ${req.url}` }
        : null,
    errorBody: (reply) => ({
      error: {
        message: reply.message ?? `HTTP ${reply.status}`,
        type: reply.status >= 500 ? 'server_error' : 'invalid_request_error',
        code: null,
      },
    }),
  });
}
