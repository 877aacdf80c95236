// Errors named by who is at fault. Each carries a stable `code` (for exit codes, HTTP
// statuses and messages to the model) and says whether retrying can help.

export type ErrorCode =
  | 'config_invalid'
  | 'input_invalid'
  | 'policy_invalid'
  | 'contract_invalid'
  | 'data_invalid'
  | 'not_found'
  | 'unknown_tool'
  | 'invalid_arguments'
  | 'model_behavior'
  | 'upstream_failed'
  | 'upstream_timeout'
  /** Not asked at all: a circuit breaker is open after repeated failures (see planners/circuit-breaker.ts). */
  | 'circuit_open'
  | 'policy_denied'
  | 'audit_failed'
  | 'audit_corrupt';

abstract class AgentError extends Error {
  abstract readonly code: ErrorCode;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Bad input or configuration from a person: the message says what and how to fix it. */
export class UserError extends AgentError {
  readonly code: ErrorCode;
  constructor(message: string, options: { code?: ErrorCode; cause?: unknown } = {}) {
    super(message, options);
    this.code = options.code ?? 'input_invalid';
  }
}

/** The LLM asked for something invalid; the message is written to be shown to the model. */
export class ModelBehaviorError extends AgentError {
  readonly code: ErrorCode;
  constructor(message: string, options: { code?: ErrorCode; cause?: unknown } = {}) {
    super(message, options);
    this.code = options.code ?? 'model_behavior';
  }
}

/**
 * Something a call names does not exist: a model, version, dataset, or a model not served
 * in an environment. A tool error for the caller to fix, never a policy refusal.
 */
export class NotFoundError extends UserError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, { ...options, code: 'not_found' });
  }
}

/** A not-found, whether thrown as NotFoundError or as a UserError with that code (the lab's). */
export function isNotFound(err: unknown): err is UserError {
  return err instanceof UserError && err.code === 'not_found';
}

/** A system we depend on (Redis, Gemini, Slack, MLflow, the disk) failed. */
export class UpstreamError extends AgentError {
  readonly code: ErrorCode;
  readonly retryable: boolean;
  readonly service: string;
  constructor(service: string, message: string, options: { retryable: boolean; code?: ErrorCode; cause?: unknown }) {
    super(`${service}: ${message}`, options);
    this.service = service;
    this.retryable = options.retryable;
    this.code = options.code ?? 'upstream_failed';
  }
}

/** The policy gate refused an action; `ruleId` names the rule that decided. */
export class PolicyDenied extends AgentError {
  readonly code: ErrorCode = 'policy_denied';
  constructor(
    message: string,
    readonly ruleId: string | null,
  ) {
    super(message);
  }
}

export function isAgentError(err: unknown): err is UserError | ModelBehaviorError | UpstreamError | PolicyDenied {
  return err instanceof AgentError;
}

/** A one-line description of any thrown value, for logs and messages. */
export function describeError(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
