// The LLM room: planners for Gemini and OpenAI-compatible endpoints, and schema conversion.
export { toJsonSchema, toGeminiParameters, toolSpec, toolSpecs, ToolSchemaError } from './tool-schema.js';
export { createGeminiPlanner, type GeminiPlannerOptions } from './gemini-planner.js';
export { delimitUntrusted } from './transcript-view.js';
export { createOpenAiPlanner, type OpenAiPlannerOptions } from './openai-planner.js';
export { createPlannerFromConfig, resolveProvider, type PlannerDeps, type PlannerProvider } from './planner-from-config.js';
export { createRunbookPlanner } from './runbook-planner.js';
export { isStopStep, loadRunbooks, mitigationSteps, parseRunbook, recheckAfterMs, runbookFor, type Runbook, type RunbookStep } from './runbook.js';
export { isShortCircuit, withCircuitBreaker, type CircuitReport, type CircuitState, type GuardedPlanner } from './circuit-breaker.js';
