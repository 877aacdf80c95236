// Structured logs (pino), never on stdout: stdout stays for command output (timelines,
// listings, JSON) and for MCP stdio. Where they go:
// - stderr not a terminal (a pipe, systemd, a container): JSON lines on stderr, for a log
//   collector; `serve` and `worker` run like this in production.
// - stderr a terminal: the same records, pretty printed (pino-pretty).
// - a command that draws a timeline on a terminal (demo, chat): a log line between two
//   timeline lines would break it, so only warnings and errors reach the terminal and the
//   whole log (JSON) goes to `logFile`, which the command names at its end.
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { pino, type DestinationStream, type Logger } from 'pino';
import { PinoPretty } from 'pino-pretty';
import { PRIVATE_DIR_MODE } from './durable-file.js';

export type { Logger };

export interface LogOutput {
  /** Whether stderr is a terminal (default: process.stderr.isTTY). */
  stderrIsTTY?: boolean;
  /** For timeline commands: where the full log goes when stderr is a terminal. */
  logFile?: string;
  /** Colour in pretty logs (default on); the CLI passes its `--no-color` / NO_COLOR decision. */
  color?: boolean;
}

function prettyStderr(color: boolean): DestinationStream {
  return PinoPretty({
    destination: 2,
    sync: true,
    colorize: color,
    ignore: 'pid,hostname,app',
    translateTime: 'HH:MM:ss',
  });
}

export function createLogger(level: string = 'info', output: LogOutput = {}): Logger {
  const options = { level, base: { app: 'mlops-agent' } };
  const tty = output.stderrIsTTY ?? process.stderr.isTTY === true;
  const color = output.color ?? true;
  if (level === 'silent') return pino({ ...options, level });
  if (!tty) return pino(options, pino.destination(2));
  if (!output.logFile) return pino(options, prettyStderr(color));
  mkdirSync(dirname(output.logFile), { recursive: true, mode: PRIVATE_DIR_MODE });
  return pino(
    options,
    pino.multistream([
      { level: 'warn', stream: prettyStderr(color) },
      {
        level: level as pino.Level,
        stream: pino.destination({ dest: output.logFile, append: true, sync: true, mode: 0o600 } as never),
      },
    ]),
  );
}

/** A logger that drops everything, for library code called without one. */
export const silentLogger: Logger = pino({ level: 'silent' });
