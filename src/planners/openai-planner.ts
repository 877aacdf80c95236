// The Planner over an OpenAI-compatible /chat/completions endpoint with tools: local
// models behind Ollama or vLLM, or any hosted endpoint speaking the same protocol.
import type { Planner, PlannerInput, PlannerTurn } from '../agent/planner.js';
import { ModelBehaviorError, UserError } from '../errors.js';
import type { Logger } from '../logger.js';
import { callWithTimeout, parseRetryAfter, RequestTimeout, withRetries, type FailureVerdict } from './retry.js';
import { argsObject, renderToolResult, toChatTurns } from './transcript-view.js';

export interface OpenAiPlannerOptions {
  /** e.g. http://127.0.0.1:11434/v1 for Ollama. */
  baseUrl: string;
  apiKey?: string;
  model: string;
  timeoutMs: number;
  maxRetries: number;
  retryBaseDelayMs: number;
  logger?: Logger;
  sleep?: (ms: number) => Promise<void>;
}

type ChatMessage =
  | { role: 'system' | 'user'; content: string }
  | {
      role: 'assistant';
      content: string | null;
      tool_calls?: { id: string; type: 'function'; function: { name: string; arguments: string } }[];
    }
  | { role: 'tool'; tool_call_id: string; content: string };

/** An HTTP failure, kept apart so the retry policy can read its status and headers. */
class HttpFailure extends Error {
  constructor(
    readonly status: number,
    readonly retryAfterMs: number | undefined,
    detail: string,
  ) {
    super(`HTTP ${status}${detail ? `: ${detail}` : ''}`);
  }
}

export function createOpenAiPlanner(options: OpenAiPlannerOptions): Planner {
  let endpoint: URL;
  try {
    endpoint = new URL(`${options.baseUrl.replace(/\/+$/, '')}/chat/completions`);
    if (endpoint.protocol !== 'http:' && endpoint.protocol !== 'https:') throw new Error('not http');
  } catch {
    throw new UserError(
      `OPENAI_BASE_URL ${JSON.stringify(options.baseUrl)} is not an http(s) URL; use e.g. http://127.0.0.1:11434/v1`,
      { code: 'config_invalid' },
    );
  }
  if (!options.model)
    throw new UserError('the OpenAI-compatible planner needs a model name: set OPENAI_MODEL or llm.openaiModel', {
      code: 'config_invalid',
    });

  return {
    name: `openai:${options.model}`,
    async next(input: PlannerInput): Promise<PlannerTurn> {
      const body = JSON.stringify({
        model: options.model,
        messages: toOpenAiMessages(input),
        ...(input.tools.length > 0
          ? {
              tools: input.tools.map((t) => ({
                type: 'function',
                function: { name: t.name, description: t.description, parameters: t.parameters },
              })),
              tool_choice: 'auto',
            }
          : {}),
      });
      const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json' };
      if (options.apiKey) headers.authorization = `Bearer ${options.apiKey}`;
      const json = await withRetries(
        'openai',
        () => postOnce(endpoint, headers, body, options.timeoutMs, input.signal),
        (err) => classifyOpenAiFailure(err, options.timeoutMs),
        {
          maxRetries: options.maxRetries,
          retryBaseDelayMs: options.retryBaseDelayMs,
          ...(options.sleep ? { sleep: options.sleep } : {}),
          ...(options.logger ? { logger: options.logger } : {}),
        },
        input.signal,
      );
      return readCompletion(json);
    },
  };
}

function postOnce(
  url: URL,
  headers: Record<string, string>,
  body: string,
  timeoutMs: number,
  outer?: AbortSignal,
): Promise<unknown> {
  return callWithTimeout(timeoutMs, outer, async (signal) => {
    const response = await fetch(url, { method: 'POST', headers, body, signal });
    const text = await response.text();
    if (!response.ok)
      throw new HttpFailure(response.status, parseRetryAfter(response.headers.get('retry-after')), errorDetail(text));
    return JSON.parse(text) as unknown;
  });
}

function errorDetail(text: string): string {
  try {
    const parsed = JSON.parse(text) as { error?: { message?: unknown } | string };
    const message = typeof parsed.error === 'string' ? parsed.error : parsed.error?.message;
    if (typeof message === 'string') return message;
  } catch {
    // Not JSON: show the start of what came back.
  }
  return text.slice(0, 300);
}

export function classifyOpenAiFailure(err: unknown, timeoutMs: number): FailureVerdict | null {
  if (err instanceof RequestTimeout)
    return { retryable: true, timeout: true, message: `chat/completions timed out after ${timeoutMs} ms` };
  if (err instanceof HttpFailure) {
    const retryable = err.status === 429 || err.status === 408 || err.status >= 500;
    const hint =
      err.status === 401 || err.status === 403
        ? ' (check OPENAI_API_KEY)'
        : err.status === 404
          ? ' (check OPENAI_BASE_URL and OPENAI_MODEL)'
          : '';
    const verdict: FailureVerdict = { retryable, timeout: false, message: `${err.message}${hint}` };
    if (err.retryAfterMs !== undefined) verdict.retryAfterMs = err.retryAfterMs;
    return verdict;
  }
  // fetch rejects with a TypeError when the connection fails; a body that is not JSON is a SyntaxError.
  if (err instanceof TypeError || err instanceof SyntaxError) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    return {
      retryable: true,
      timeout: false,
      message: `${err.message}${cause?.code ? ` (${cause.code})` : cause?.message ? ` (${cause.message})` : ''}`,
    };
  }
  return null;
}

export function toOpenAiMessages(input: Pick<PlannerInput, 'systemPrompt' | 'transcript'>): ChatMessage[] {
  const messages: ChatMessage[] = [{ role: 'system', content: input.systemPrompt }];
  for (const turn of toChatTurns(input.transcript)) {
    if (turn.role === 'user') messages.push({ role: 'user', content: turn.text });
    else if (turn.role === 'model') {
      // The loop's call ids go to the model; results refer to them, so the pairing holds on our side.
      const toolCalls = turn.calls.map((c) => ({
        id: c.id,
        type: 'function' as const,
        function: { name: c.name, arguments: JSON.stringify(argsObject(c.args)) },
      }));
      messages.push(
        toolCalls.length > 0
          ? { role: 'assistant', content: turn.text, tool_calls: toolCalls }
          : { role: 'assistant', content: turn.text ?? '' },
      );
    } else {
      // Tool messages carry no name in the protocol, so the content names the tool; it is data like the alert.
      for (const r of turn.results)
        messages.push({ role: 'tool', tool_call_id: r.callId, content: renderToolResult(r.name, r.outcome) });
    }
  }
  if (messages.length === 1)
    throw new UserError('the transcript is empty: a run needs a trigger before the planner is asked');
  return messages;
}

export function readCompletion(json: unknown): PlannerTurn {
  const body = (typeof json === 'object' && json !== null ? json : {}) as {
    choices?: { message?: { content?: unknown; tool_calls?: unknown }; finish_reason?: unknown }[];
    usage?: { prompt_tokens?: number; completion_tokens?: number };
  };
  const usage = { input: body.usage?.prompt_tokens ?? 0, output: body.usage?.completion_tokens ?? 0 };
  const choice = Array.isArray(body.choices) ? body.choices[0] : undefined;
  if (!choice?.message)
    throw new ModelBehaviorError('The model returned no choices. Reply again with a tool call or an answer.');
  if (choice.finish_reason === 'content_filter')
    throw new ModelBehaviorError('Your reply was blocked by the content filter. Reply again without that content.');
  const text = typeof choice.message.content === 'string' ? choice.message.content.trim() : '';
  const rawCalls = choice.message.tool_calls ?? [];
  if (!Array.isArray(rawCalls)) throw new ModelBehaviorError('Your tool_calls must be a list of function calls.');
  const calls = rawCalls.map(readToolCall);
  if (calls.length > 0) return { kind: 'calls', text: text === '' ? null : text, calls, usage };
  if (text !== '') return { kind: 'answer', text, usage };
  throw new ModelBehaviorError(
    choice.finish_reason === 'length'
      ? 'Your reply was cut off at the output token limit before it said anything. Reply again, more briefly.'
      : 'Your reply was empty. Call a tool or give your final answer.',
  );
}

function readToolCall(raw: unknown): { name: string; args: unknown } {
  const fn =
    (typeof raw === 'object' && raw !== null
      ? (raw as { function?: { name?: unknown; arguments?: unknown } }).function
      : undefined) ?? {};
  if (typeof fn.name !== 'string' || fn.name.trim() === '') {
    throw new ModelBehaviorError(
      'You made a tool call without a function name. Call one of the declared functions by name.',
    );
  }
  // The protocol sends arguments as a JSON string; some local servers send the object itself.
  let args: unknown = fn.arguments ?? {};
  if (typeof args === 'string') {
    if (args.trim() === '') args = {};
    else {
      try {
        args = JSON.parse(args);
      } catch {
        throw new ModelBehaviorError(
          `The arguments of your call to ${fn.name} are not valid JSON. Send a JSON object of named parameters.`,
        );
      }
    }
  }
  if (typeof args !== 'object' || args === null || Array.isArray(args)) {
    throw new ModelBehaviorError(
      `The arguments of your call to ${fn.name} must be a JSON object of named parameters, not ${Array.isArray(args) ? 'an array' : args === null ? 'null' : typeof args}.`,
    );
  }
  return { name: fn.name, args };
}
