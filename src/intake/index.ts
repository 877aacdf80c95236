// The intake room: triggers from the outside, their dedupe keys, and the run queue.
export { ALERTMANAGER_PRINCIPAL, triggerFromAlertGroup, type AlertGroup } from './alert-trigger.js';
export {
  alertmanagerAlertSchema,
  alertmanagerPayloadSchema,
  alertmanagerTrigger,
  type AlertmanagerAlert,
  type AlertmanagerPayload,
} from './alertmanager-payload.js';
export { GENERIC_ALERT_PRINCIPAL, genericAlertSchema, genericAlertTrigger, type GenericAlert } from './generic-alert.js';
export { createBullmqRunQueue, runIdOfJob, type BullmqRunQueueOptions } from './bullmq-run-queue.js';
export { nextFireAt } from './cron.js';
export { firing, scheduleFromConfig, scheduleRunbook, SCHEDULER_PRINCIPAL, type Schedule, type ScheduleData } from './schedule-trigger.js';
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
