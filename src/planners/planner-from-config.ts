// Chooses the planner the configuration asks for; the runbook planner is built by its
// owner and passed in, so this room does not depend on runbooks.
import type { Planner } from '../agent/planner.js';
import { UserError } from '../errors.js';
import type { Logger } from '../logger.js';
import { createGeminiPlanner } from './gemini-planner.js';
import { createOpenAiPlanner } from './openai-planner.js';

export interface PlannerDeps {
  runbookPlanner: () => Planner;
  logger: Logger;
  /** For tests: record backoff delays instead of sleeping. */
  sleep?: (ms: number) => Promise<void>;
}

export type PlannerProvider = 'gemini' | 'openai' | 'runbook';

/** What the planners read of the operator's settings (the app's config `llm` section). */
export interface LlmSettings {
  provider: PlannerProvider | 'auto';
  geminiApiKey?: string | undefined;
  geminiModel: string;
  geminiBaseUrl?: string | undefined;
  openaiBaseUrl?: string | undefined;
  openaiApiKey?: string | undefined;
  openaiModel: string;
  /** Gemini on Vertex AI (project, location, application default credentials) instead of an API key. */
  vertexai: boolean;
  vertexProject?: string | undefined;
  vertexLocation?: string | undefined;
  timeoutMs: number;
  maxRetries: number;
  retryBaseDelayMs: number;
}

/** `auto`: Gemini when a key is set or Vertex AI is on, else an OpenAI-compatible endpoint when set, else the runbook. */
export function resolveProvider(llm: LlmSettings): PlannerProvider {
  if (llm.provider !== 'auto') return llm.provider;
  if (llm.geminiApiKey || llm.vertexai) return 'gemini';
  if (llm.openaiBaseUrl) return 'openai';
  return 'runbook';
}

export function createPlannerFromConfig(llm: LlmSettings, deps: PlannerDeps): Planner {
  const provider = resolveProvider(llm);
  const retry = {
    timeoutMs: llm.timeoutMs,
    maxRetries: llm.maxRetries,
    retryBaseDelayMs: llm.retryBaseDelayMs,
    logger: deps.logger,
    ...(deps.sleep ? { sleep: deps.sleep } : {}),
  };
  let planner: Planner;
  switch (provider) {
    case 'gemini':
      if (!llm.geminiApiKey && !llm.vertexai) {
        throw new UserError(
          'llm.provider is gemini but no API key is set: export GEMINI_API_KEY=..., or use Vertex AI with GOOGLE_GENAI_USE_VERTEXAI=true, GOOGLE_CLOUD_PROJECT and GOOGLE_CLOUD_LOCATION (or set llm.provider to runbook)',
          { code: 'config_invalid' },
        );
      }
      planner = createGeminiPlanner({
        // Vertex AI authenticates with application default credentials, never the API key.
        ...(llm.vertexai
          ? { vertex: { project: llm.vertexProject ?? '', location: llm.vertexLocation ?? '' } }
          : { apiKey: llm.geminiApiKey! }),
        model: llm.geminiModel,
        ...(llm.geminiBaseUrl ? { baseUrl: llm.geminiBaseUrl } : {}),
        ...retry,
      });
      break;
    case 'openai':
      if (!llm.openaiBaseUrl) {
        throw new UserError(
          'llm.provider is openai but no endpoint is set: export OPENAI_BASE_URL=http://127.0.0.1:11434/v1 (Ollama) or your vLLM URL',
          {
            code: 'config_invalid',
          },
        );
      }
      planner = createOpenAiPlanner({
        baseUrl: llm.openaiBaseUrl,
        model: llm.openaiModel,
        ...(llm.openaiApiKey ? { apiKey: llm.openaiApiKey } : {}),
        ...retry,
      });
      break;
    case 'runbook':
      planner = deps.runbookPlanner();
      break;
  }
  deps.logger.info({ planner: planner.name, provider, configured: llm.provider }, 'planner selected');
  return planner;
}
