// The intake room: triggers from the outside, their dedupe keys, and the run queue.
export { ALERTMANAGER_PRINCIPAL, triggerFromAlertGroup, type AlertGroup } from './alert-trigger.js';
export {
  alertmanagerAlertSchema,
  alertmanagerPayloadSchema,
  alertmanagerTrigger,
  fingerprintOf,
  type AlertmanagerAlert,
  type AlertmanagerPayload,
} from './alertmanager-payload.js';
export {
  createMemoryIncidentIndex,
  openFileIncidentIndex,
  judgeAlerts,
  type AlertNotice,
  type AlertRecord,
  type IncidentAlert,
  type IncidentIndex,
} from './incidents.js';
export { createRedisIncidentIndex } from './redis-incident-index.js';
export { createIncidentIntake, type IncidentIntake, type IntakeResult } from './incident-intake.js';
export { labelSetSchema, MAX_LABELS } from './label-set.js';
export {
  GENERIC_ALERT_PRINCIPAL,
  genericAlertSchema,
  genericAlertTrigger,
  type GenericAlert,
} from './generic-alert.js';
export { createBullmqRunQueue, runIdOfJob, type BullmqRunQueueOptions } from './bullmq-run-queue.js';
export { nextFireAt } from './cron.js';
export {
  firing,
  scheduleFromConfig,
  scheduleRunbook,
  SCHEDULER_PRINCIPAL,
  type Schedule,
  type ScheduleConfig,
  type ScheduleData,
} from './schedule-trigger.js';
export { createLocalRunQueue, type LocalRunQueueOptions } from './local-run-queue.js';
export { openQueueJournal, type JournalEntry, type QueueJournal } from './queue-journal.js';
export { isRetryable } from './retry.js';
export { agentRunHandler, type AgentRunHandlerOptions, type RunDriver, type RunLookup } from './run-worker.js';
export {
  dedupeKeyOf,
  type CloseOptions,
  type CloseResult,
  newQueuedRunId,
  type EnqueueOptions,
  type EnqueueResult,
  type JoinedTrigger,
  type ProcessOptions,
  type RunHandler,
  type RunQueue,
  type ScheduleSync,
} from './run-queue.js';
