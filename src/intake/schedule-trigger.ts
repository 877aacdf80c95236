// A configured schedule as the queue keeps it: an id, a cron expression, and the trigger
// each firing starts a run with. The config is the operator's, so unlike an alert's
// labels nothing here is outside content; the run still shows it as data.
import type { Trigger } from '../agent/run.js';

/** Scheduled runs act as this principal; give it roles in the policy's `roles:` map. */
export const SCHEDULER_PRINCIPAL = { id: 'agent:scheduler', roles: [] as string[] };

export interface Schedule {
  /** The schedule's name: the BullMQ job scheduler id. */
  id: string;
  cron: string;
  tz: string;
  trigger: Trigger;
}

export interface ScheduleData {
  schedule: string;
  cron: string;
  tz: string;
  runbook: string | null;
  labels: Record<string, string>;
  /** When this firing was due (ISO 8601); set when it fires. */
  scheduledFor?: string;
}

/** A schedule as the operator configures it (the app's config `schedules` entries). */
export interface ScheduleConfig {
  name: string;
  cron: string;
  tz: string;
  task: string;
  runbook?: string | undefined;
  labels: Record<string, string>;
}

export function scheduleFromConfig(config: ScheduleConfig): Schedule {
  const data: ScheduleData = {
    schedule: config.name,
    cron: config.cron,
    tz: config.tz,
    runbook: config.runbook ?? null,
    labels: config.labels,
  };
  return {
    id: config.name,
    cron: config.cron,
    tz: config.tz,
    trigger: { kind: 'schedule', principal: SCHEDULER_PRINCIPAL, text: config.task, data },
  };
}

/** The trigger of one firing, stamped with the time it was due. */
export function firing(trigger: Trigger, dueAt: number): Trigger {
  const data = (trigger.data && typeof trigger.data === 'object' ? trigger.data : {}) as Record<string, unknown>;
  return { ...trigger, data: { ...data, scheduledFor: new Date(dueAt).toISOString() } };
}

/** The runbook a schedule trigger names, if any. */
export function scheduleRunbook(trigger: Trigger): string | undefined {
  if (trigger.kind !== 'schedule') return undefined;
  const runbook = (trigger.data as { runbook?: unknown } | null | undefined)?.runbook;
  return typeof runbook === 'string' && runbook ? runbook : undefined;
}
