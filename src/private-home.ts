// The data directory holds the audit log, runs (alert payloads, chat text, transcripts),
// approvals and the lab's models: nothing another user of the machine should read. It is
// created 0700; one that already exists and is open to others is left as the operator
// made it, with a warning at every start saying how to close it.
import { stat } from 'node:fs/promises';
import { mkdirPrivate } from './durable-file.js';
import type { Logger } from './logger.js';

/** Creates `home` (0700) if needed; returns the warning it logged, or null when it is private. */
export async function preparePrivateHome(home: string, logger: Pick<Logger, 'warn'>): Promise<string | null> {
  await mkdirPrivate(home);
  const mode = (await stat(home)).mode & 0o777;
  if ((mode & 0o077) === 0) return null;
  const warning = `the data directory ${home} can be read by other users of this machine (mode ${mode.toString(8).padStart(3, '0')}); it holds the audit log, runs and approvals: run chmod 700 ${home}`;
  logger.warn({ home, mode: mode.toString(8) }, warning);
  return warning;
}
