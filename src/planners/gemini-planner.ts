// The Planner over Gemini function calling (@google/generative-ai).
import {
  GoogleGenerativeAI,
  GoogleGenerativeAIAbortError,
  GoogleGenerativeAIError,
  GoogleGenerativeAIFetchError,
  type Content,
  type FunctionDeclaration,
  type FunctionDeclarationSchema,
  type GenerateContentResponse,
  type Part,
} from '@google/generative-ai';
import type { Planner, PlannerInput, PlannerTurn, ToolSpec } from '../agent/planner.js';
import { ModelBehaviorError, UserError } from '../errors.js';
import type { Logger } from '../logger.js';
import { callWithTimeout, RequestTimeout, withRetries, type FailureVerdict } from './retry.js';
import { argsObject, renderToolResult, toChatTurns } from './transcript-view.js';

export interface GeminiPlannerOptions {
  apiKey: string;
  model: string;
  /** Another endpoint speaking the Gemini REST protocol (a proxy, a test server). */
  baseUrl?: string;
  timeoutMs: number;
  maxRetries: number;
  retryBaseDelayMs: number;
  logger?: Logger;
  sleep?: (ms: number) => Promise<void>;
}

const BLOCKING_FINISH = new Set(['SAFETY', 'RECITATION', 'LANGUAGE', 'BLOCKLIST', 'PROHIBITED_CONTENT', 'SPII', 'IMAGE_SAFETY']);

export function createGeminiPlanner(options: GeminiPlannerOptions): Planner {
  if (!options.apiKey) throw new UserError('the Gemini planner needs an API key: set GEMINI_API_KEY or llm.geminiApiKey', { code: 'config_invalid' });
  if (!options.model) throw new UserError('the Gemini planner needs a model name: set GEMINI_MODEL or llm.geminiModel', { code: 'config_invalid' });
  const client = new GoogleGenerativeAI(options.apiKey);
  const baseUrl = options.baseUrl?.replace(/\/+$/, '');

  return {
    name: `gemini:${options.model}`,
    async next(input: PlannerInput): Promise<PlannerTurn> {
      const contents = toGeminiContents(input);
      const declarations = input.tools.map(toDeclaration);
      const model = client.getGenerativeModel(
        {
          model: options.model,
          systemInstruction: input.systemPrompt,
          ...(declarations.length > 0 ? { tools: [{ functionDeclarations: declarations }] } : {}),
        },
        baseUrl ? { baseUrl } : {},
      );
      const response = await withRetries(
        'gemini',
        () => callWithTimeout(options.timeoutMs, input.signal, (signal) => model.generateContent({ contents }, { signal })),
        (err) => classifyGeminiFailure(err, options.timeoutMs),
        { maxRetries: options.maxRetries, retryBaseDelayMs: options.retryBaseDelayMs, ...(options.sleep ? { sleep: options.sleep } : {}), ...(options.logger ? { logger: options.logger } : {}) },
        input.signal,
      );
      return readTurn(response.response);
    },
  };
}

/** Our own timer rather than the SDK's `timeout`, which is never cleared and would keep a finished CLI alive. */
export function classifyGeminiFailure(err: unknown, timeoutMs: number): FailureVerdict | null {
  if (err instanceof RequestTimeout) return { retryable: true, timeout: true, message: `generateContent timed out after ${timeoutMs} ms` };
  if (err instanceof GoogleGenerativeAIFetchError) {
    const status = err.status ?? 0;
    const retryable = status === 429 || status === 408 || status >= 500;
    const hint = status === 401 || status === 403 ? ' (check GEMINI_API_KEY)' : status === 404 ? ' (check GEMINI_MODEL)' : '';
    const verdict: FailureVerdict = { retryable, timeout: false, message: `HTTP ${status} ${err.statusText ?? ''}${hint}: ${stripSdkPrefix(err.message)}` };
    const retryAfterMs = retryInfoDelay(err.errorDetails);
    if (retryAfterMs !== undefined) verdict.retryAfterMs = retryAfterMs;
    return verdict;
  }
  if (err instanceof GoogleGenerativeAIAbortError) return null;
  // Network failures (refused, reset) and unreadable bodies: the service, not the request, is at fault.
  if (err instanceof GoogleGenerativeAIError || err instanceof SyntaxError) {
    return { retryable: true, timeout: false, message: stripSdkPrefix((err as Error).message) };
  }
  return null;
}

function stripSdkPrefix(message: string): string {
  return message.replace(/^\[GoogleGenerativeAI Error\]: /, '');
}

/** Gemini's `google.rpc.RetryInfo` detail: `retryDelay` like "2s" or "0.5s". */
function retryInfoDelay(details: unknown): number | undefined {
  if (!Array.isArray(details)) return undefined;
  for (const detail of details) {
    if (typeof detail !== 'object' || detail === null) continue;
    const { '@type': type, retryDelay } = detail as Record<string, unknown>;
    if (typeof type === 'string' && type.endsWith('google.rpc.RetryInfo') && typeof retryDelay === 'string') {
      const match = /^(\d+(?:\.\d+)?)s$/.exec(retryDelay.trim());
      if (match) return Math.round(Number(match[1]) * 1000);
    }
  }
  return undefined;
}

export function toDeclaration(spec: ToolSpec): FunctionDeclaration {
  const properties = spec.parameters.properties;
  const hasParameters = typeof properties === 'object' && properties !== null && Object.keys(properties).length > 0;
  // Gemini rejects an object with no properties; a tool without arguments declares none.
  return hasParameters
    ? { name: spec.name, description: spec.description, parameters: spec.parameters as unknown as FunctionDeclarationSchema }
    : { name: spec.name, description: spec.description };
}

export function toGeminiContents(input: Pick<PlannerInput, 'transcript'>): Content[] {
  const contents: Content[] = [];
  const push = (role: 'user' | 'model', parts: Part[]) => {
    if (parts.length === 0) return;
    const last = contents[contents.length - 1];
    // Gemini wants user and model turns to alternate, so neighbours of one role merge.
    if (last && last.role === role) last.parts.push(...parts);
    else contents.push({ role, parts });
  };
  for (const turn of toChatTurns(input.transcript)) {
    if (turn.role === 'user') push('user', [{ text: turn.text }]);
    else if (turn.role === 'model') {
      const parts: Part[] = turn.text ? [{ text: turn.text }] : [];
      for (const call of turn.calls) parts.push({ functionCall: { name: call.name, args: argsObject(call.args) } });
      push('model', parts);
    } else {
      push(
        'user',
        // The result is data like the alert: wrapped, in the one field the response has.
        turn.results.map((r) => ({ functionResponse: { name: r.name, response: { content: renderToolResult(r.name, r.outcome) } } })),
      );
    }
  }
  if (contents.length === 0) throw new UserError('the transcript is empty: a run needs a trigger before the planner is asked');
  return contents;
}

export function readTurn(response: GenerateContentResponse): PlannerTurn {
  const raw = response as GenerateContentResponse & { usageMetadata?: { thoughtsTokenCount?: number } };
  const usage = {
    input: raw.usageMetadata?.promptTokenCount ?? 0,
    output: (raw.usageMetadata?.candidatesTokenCount ?? 0) + (raw.usageMetadata?.thoughtsTokenCount ?? 0),
  };
  const candidate = response.candidates?.[0];
  if (!candidate) {
    const reason = response.promptFeedback?.blockReason;
    throw new ModelBehaviorError(
      reason ? `The request was blocked (${reason}). Rephrase without the blocked content.` : 'The model returned no candidates. Reply again with a tool call or an answer.',
    );
  }
  const finish = String(candidate.finishReason ?? '');
  if (finish === 'MALFORMED_FUNCTION_CALL') {
    throw new ModelBehaviorError(
      `Your last function call was malformed${candidate.finishMessage ? ` (${candidate.finishMessage})` : ''}. Call a declared function again with a JSON object of arguments matching its parameters.`,
    );
  }
  if (BLOCKING_FINISH.has(finish)) {
    throw new ModelBehaviorError(`Your reply was blocked (finish reason ${finish}). Reply again without that content.`);
  }
  const parts = (candidate.content?.parts ?? []) as (Part & { thought?: boolean })[];
  const calls: { name: string; args: unknown }[] = [];
  const texts: string[] = [];
  for (const part of parts) {
    if (part.thought === true) continue;
    if (part.functionCall) {
      const { name, args } = part.functionCall as { name?: unknown; args?: unknown };
      if (typeof name !== 'string' || name.trim() === '') {
        throw new ModelBehaviorError('You made a function call without a function name. Call one of the declared functions by name.');
      }
      if (args !== undefined && (typeof args !== 'object' || args === null || Array.isArray(args))) {
        throw new ModelBehaviorError(`The arguments of your call to ${name} must be a JSON object of named parameters, not ${Array.isArray(args) ? 'an array' : typeof args}.`);
      }
      calls.push({ name, args: args ?? {} });
    } else if (typeof part.text === 'string') texts.push(part.text);
  }
  const text = texts.join('').trim();
  if (calls.length > 0) return { kind: 'calls', text: text === '' ? null : text, calls, usage };
  if (text !== '') return { kind: 'answer', text, usage };
  throw new ModelBehaviorError(
    finish === 'MAX_TOKENS'
      ? 'Your reply was cut off at the output token limit before it said anything. Reply again, more briefly.'
      : 'Your reply was empty. Call a tool or give your final answer.',
  );
}
