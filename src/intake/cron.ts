// When a cron schedule fires next. BullMQ computes the same with the same parser
// (cron-parser) for its job schedulers; the in-process queue uses this.
import { CronExpressionParser } from 'cron-parser';

/** The first time strictly after `after` (ms since the epoch) that `cron` fires in `tz`. */
export function nextFireAt(cron: string, tz: string, after: number): number {
  return CronExpressionParser.parse(cron, { currentDate: new Date(after), tz })
    .next()
    .getTime();
}
