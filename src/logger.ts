// Structured logs (pino) to stderr, so stdout stays for command output and MCP stdio.
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(level: string = 'info'): Logger {
  return pino({ level, base: { app: 'mlops-agent' } }, pino.destination(2));
}

/** A logger that drops everything, for library code called without one. */
export const silentLogger: Logger = pino({ level: 'silent' });
