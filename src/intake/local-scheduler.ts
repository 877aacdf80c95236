// Schedules for the in-process queue: one timer per schedule, armed for its next cron
// time and re-armed after each firing. Firings missed while the process was down are
// not made up (BullMQ's job schedulers, with Redis, likewise start from the next time).
import type { Trigger } from '../agent/run.js';
import type { Clock } from '../clock.js';
import { nextFireAt } from './cron.js';
import type { ScheduleSync } from './run-queue.js';
import { firing, type Schedule } from './schedule-trigger.js';

// setTimeout holds at most 2^31-1 ms (~24.8 days); a monthly schedule waits in steps.
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface LocalScheduler {
  set(schedules: readonly Schedule[]): ScheduleSync;
  stop(): void;
}

export function createLocalScheduler(deps: { clock: Clock; fire: (trigger: Trigger) => void }): LocalScheduler {
  const timers = new Map<string, NodeJS.Timeout>();

  function arm(schedule: Schedule, dueAt: number): void {
    const wait = Math.max(0, dueAt - deps.clock.now());
    const timer = setTimeout(
      () => {
        if (deps.clock.now() < dueAt) return arm(schedule, dueAt);
        deps.fire(firing(schedule.trigger, dueAt));
        arm(schedule, nextFireAt(schedule.cron, schedule.tz, Math.max(dueAt, deps.clock.now())));
      },
      Math.min(wait, MAX_TIMER_MS),
    );
    // Schedules alone do not keep a process alive; the server or worker does.
    timer.unref();
    timers.set(schedule.id, timer);
  }

  function stop(): void {
    for (const timer of timers.values()) clearTimeout(timer);
    timers.clear();
  }

  return {
    set(schedules) {
      const before = [...timers.keys()];
      stop();
      for (const s of schedules) arm(s, nextFireAt(s.cron, s.tz, deps.clock.now()));
      const active = schedules.map((s) => s.id);
      return { active, removed: before.filter((id) => !active.includes(id)) };
    },
    stop,
  };
}
