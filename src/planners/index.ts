// The planners room: Gemini, OpenAI-compatible endpoints and runbooks (no LLM), each behind a circuit breaker.
export { createGeminiPlanner, type GeminiPlannerOptions } from './gemini-planner.js';
export { delimitUntrusted } from './transcript-view.js';
export { createOpenAiPlanner, type OpenAiPlannerOptions } from './openai-planner.js';
export {
  createPlannerFromConfig,
  resolveProvider,
  type LlmSettings,
  type PlannerDeps,
  type PlannerProvider,
} from './planner-from-config.js';
export { createRunbookPlanner } from './runbook-planner.js';
export {
  isShortCircuit,
  withCircuitBreaker,
  type CircuitReport,
  type CircuitState,
  type GuardedPlanner,
} from './circuit-breaker.js';
