// The gate room: every tool call passes here. It asks the policy, parks calls for approval,
// runs allowed ones exactly once (executions, long calls, replays of taken calls) and audits each step.
export { createGate, defaultIdempotencyKey } from './gate.js';
export type {
  ApprovalSink,
  CompletedCall,
  Gate,
  GateCall,
  GateOutcome,
  GateOptions,
  ParkedCall,
  Principal,
  PolicyEvaluator,
  AuditAppender,
  WaitingCall,
} from './gate.js';
export { argsHashOf, createFileExecutions, createMemoryExecutions, startedWait } from './executions.js';
export type { CallEnd, ExecutionRecord, Executions } from './executions.js';
export { createRedisExecutions } from './redis-executions.js';
