// The Planner over Gemini function calling, through Google's current SDK (@google/genai):
// the Gemini API with an API key, or Vertex AI (a project and a location, credentials from
// application default credentials) for teams that need their data kept in one region.
import {
  ApiError,
  GoogleGenAI,
  type Content,
  type FunctionDeclaration,
  type GenerateContentResponse,
  type GoogleGenAIOptions,
  type Part,
  type Schema,
} from '@google/genai';
import type { Planner, PlannerInput, PlannerTurn, ToolSpec } from '../agent/planner.js';
import { ModelBehaviorError, UserError } from '../errors.js';
import type { Logger } from '../logger.js';
import { callWithTimeout, RequestTimeout, withRetries, type FailureVerdict } from './retry.js';
import { argsObject, renderToolResult, toChatTurns } from './transcript-view.js';

/** Vertex AI: requests go to the project's endpoint in `location`, authorised by application default credentials. */
export interface VertexTarget {
  project: string;
  location: string;
  /** Passed to google-auth-library (e.g. keyFilename); default: application default credentials. */
  googleAuthOptions?: GoogleGenAIOptions['googleAuthOptions'];
}

export interface GeminiPlannerOptions {
  /** The Gemini API key; unused with `vertex`. */
  apiKey?: string;
  vertex?: VertexTarget;
  model: string;
  /** Another endpoint speaking the Gemini (or Vertex AI) REST protocol: a proxy, a test server. */
  baseUrl?: string;
  timeoutMs: number;
  maxRetries: number;
  retryBaseDelayMs: number;
  logger?: Logger;
  sleep?: (ms: number) => Promise<void>;
}

const BLOCKING_FINISH = new Set([
  'SAFETY',
  'RECITATION',
  'LANGUAGE',
  'BLOCKLIST',
  'PROHIBITED_CONTENT',
  'SPII',
  'IMAGE_SAFETY',
]);

function createClient(options: GeminiPlannerOptions): GoogleGenAI {
  // No SDK retries (ours classify and audit them) and no SDK timeout (ours is cleared when the call ends).
  const httpOptions = options.baseUrl ? { httpOptions: { baseUrl: options.baseUrl.replace(/\/+$/, '') } } : {};
  if (options.vertex) {
    const { project, location, googleAuthOptions } = options.vertex;
    return new GoogleGenAI({
      vertexai: true,
      project,
      location,
      ...(googleAuthOptions ? { googleAuthOptions } : {}),
      ...httpOptions,
    });
  }
  return new GoogleGenAI({ apiKey: options.apiKey!, ...httpOptions });
}

export function createGeminiPlanner(options: GeminiPlannerOptions): Planner {
  if (options.vertex) {
    if (!options.vertex.project)
      throw new UserError('Gemini on Vertex AI needs a project: set GOOGLE_CLOUD_PROJECT or llm.vertexProject', {
        code: 'config_invalid',
      });
    if (!options.vertex.location)
      throw new UserError(
        'Gemini on Vertex AI needs a location, e.g. europe-west4: set GOOGLE_CLOUD_LOCATION or llm.vertexLocation',
        { code: 'config_invalid' },
      );
  } else if (!options.apiKey) {
    throw new UserError(
      'the Gemini planner needs an API key: set GEMINI_API_KEY or llm.geminiApiKey (or use Vertex AI: GOOGLE_GENAI_USE_VERTEXAI=true with GOOGLE_CLOUD_PROJECT and GOOGLE_CLOUD_LOCATION)',
      { code: 'config_invalid' },
    );
  }
  if (!options.model)
    throw new UserError('the Gemini planner needs a model name: set GEMINI_MODEL or llm.geminiModel', {
      code: 'config_invalid',
    });
  const client = createClient(options);
  const credentialsHint = options.vertex
    ? ` (check application default credentials: gcloud auth application-default login or GOOGLE_APPLICATION_CREDENTIALS, and that they may use Vertex AI in project ${options.vertex.project})`
    : ' (check GEMINI_API_KEY)';

  return {
    name: options.vertex ? `gemini:${options.model}@vertex:${options.vertex.location}` : `gemini:${options.model}`,
    async next(input: PlannerInput): Promise<PlannerTurn> {
      const contents = toGeminiContents(input);
      const declarations = input.tools.map(toDeclaration);
      const response = await withRetries(
        'gemini',
        () =>
          callWithTimeout(options.timeoutMs, input.signal, (signal) =>
            client.models.generateContent({
              model: options.model,
              contents,
              config: {
                systemInstruction: input.systemPrompt,
                ...(declarations.length > 0 ? { tools: [{ functionDeclarations: declarations }] } : {}),
                abortSignal: signal,
              },
            }),
          ),
        (err) => classifyGeminiFailure(err, options.timeoutMs, credentialsHint),
        {
          maxRetries: options.maxRetries,
          retryBaseDelayMs: options.retryBaseDelayMs,
          ...(options.sleep ? { sleep: options.sleep } : {}),
          ...(options.logger ? { logger: options.logger } : {}),
        },
        input.signal,
      );
      return readTurn(response);
    },
  };
}

/** Google's error body, which the SDK's ApiError carries as JSON text in its message. */
function googleError(err: ApiError): { message: string; status: string; details: unknown } {
  try {
    const body = JSON.parse(err.message) as { error?: { message?: unknown; status?: unknown; details?: unknown } };
    return {
      message: String(body.error?.message ?? err.message),
      status: String(body.error?.status ?? ''),
      details: body.error?.details,
    };
  } catch {
    return { message: err.message, status: '', details: undefined };
  }
}

/** Our own timer rather than the SDK's `timeout`: a failure here is classified, retried and audited by us. */
export function classifyGeminiFailure(
  err: unknown,
  timeoutMs: number,
  credentialsHint = ' (check GEMINI_API_KEY)',
): FailureVerdict | null {
  if (err instanceof RequestTimeout)
    return { retryable: true, timeout: true, message: `generateContent timed out after ${timeoutMs} ms` };
  if (err instanceof ApiError) {
    const status = err.status ?? 0;
    const retryable = status === 429 || status === 408 || status >= 500;
    const body = googleError(err);
    const hint = status === 401 || status === 403 ? credentialsHint : status === 404 ? ' (check GEMINI_MODEL)' : '';
    const verdict: FailureVerdict = {
      retryable,
      timeout: false,
      message: `HTTP ${status} ${body.status}${hint}: ${body.message}`,
    };
    const retryAfterMs = retryInfoDelay(body.details);
    if (retryAfterMs !== undefined) verdict.retryAfterMs = retryAfterMs;
    return verdict;
  }
  if (err instanceof Error && err.name === 'AbortError') return null;
  // Network failures (refused, reset: fetch's TypeError) and unreadable bodies: the service, not the request, is at fault.
  if (err instanceof TypeError || err instanceof SyntaxError) {
    const cause = (err as Error & { cause?: { code?: string; message?: string } }).cause;
    return {
      retryable: true,
      timeout: false,
      message: `${err.message}${cause ? ` (${cause.code ?? cause.message})` : ''}`,
    };
  }
  return null;
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
    ? { name: spec.name, description: spec.description, parameters: spec.parameters as unknown as Schema }
    : { name: spec.name, description: spec.description };
}

export function toGeminiContents(input: Pick<PlannerInput, 'transcript'>): Content[] {
  const contents: Content[] = [];
  const push = (role: 'user' | 'model', parts: Part[]) => {
    if (parts.length === 0) return;
    const last = contents[contents.length - 1];
    // Gemini wants user and model turns to alternate, so neighbours of one role merge.
    if (last && last.role === role) (last.parts ??= []).push(...parts);
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
        turn.results.map((r) => ({
          functionResponse: { name: r.name, response: { content: renderToolResult(r.name, r.outcome) } },
        })),
      );
    }
  }
  if (contents.length === 0)
    throw new UserError('the transcript is empty: a run needs a trigger before the planner is asked');
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
      reason
        ? `The request was blocked (${reason}). Rephrase without the blocked content.`
        : 'The model returned no candidates. Reply again with a tool call or an answer.',
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
        throw new ModelBehaviorError(
          'You made a function call without a function name. Call one of the declared functions by name.',
        );
      }
      if (args !== undefined && (typeof args !== 'object' || args === null || Array.isArray(args))) {
        throw new ModelBehaviorError(
          `The arguments of your call to ${name} must be a JSON object of named parameters, not ${Array.isArray(args) ? 'an array' : typeof args}.`,
        );
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
