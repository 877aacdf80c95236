// Builds a real log of `count` entries through the public API, for tests that then damage it.
import { readFileSync, writeFileSync } from 'node:fs';
import { openFileAuditLog, type AuditEntry } from '../../../src/audit/index.js';
import { manualClock } from '../../support/manual-clock.js';

export async function writeLog(file: string, count: number): Promise<AuditEntry[]> {
  const clock = manualClock();
  const log = await openFileAuditLog({ file, clock });
  const pending: Promise<AuditEntry>[] = [];
  for (let i = 1; i <= count; i++) {
    clock.advance(1000);
    // Issued together so big logs are group-committed; the order of calls is the order on disk.
    pending.push(
      log.append({
        runId: `run-${i % 2}`,
        principal: 'alice',
        kind: i === 1 ? 'run.started' : 'planner.turn',
        data: { step: i },
      }),
    );
  }
  const entries = await Promise.all(pending);
  await log.close();
  return entries;
}

export function readLines(file: string): string[] {
  return readFileSync(file, 'utf8').split('\n').slice(0, -1);
}

export function writeLines(file: string, lines: string[], trailingNewline = true): void {
  writeFileSync(file, lines.join('\n') + (trailingNewline ? '\n' : ''));
}
