// Colour and status symbols for what the command prints on stdout: on a terminal only.
// Piped output (a file, grep, a script) stays plain text, byte for byte what it was.
import { createColors } from 'picocolors';

export interface ColorSettings {
  argv: readonly string[];
  env: NodeJS.ProcessEnv;
  isTTY: boolean;
}

/**
 * The usual conventions, in order: `--no-color` or NO_COLOR (any non-empty value) turn
 * colour off; FORCE_COLOR turns it on (except FORCE_COLOR=0 or false, which turn it off);
 * else colour when stdout is a terminal that is not TERM=dumb.
 */
export function colorWanted({ argv, env, isTTY }: ColorSettings): boolean {
  if (argv.includes('--no-color') || (env.NO_COLOR ?? '') !== '') return false;
  if (env.FORCE_COLOR !== undefined) return !['0', 'false'].includes(env.FORCE_COLOR);
  return isTTY && env.TERM !== 'dumb';
}

/** Decided once per process: the command's whole output is coloured or none of it. */
export const colorOn = colorWanted({ argv: process.argv, env: process.env, isTTY: process.stdout.isTTY === true });

export const paint = createColors(colorOn);

type Tone = 'good' | 'bad' | 'warn' | 'wait' | 'info' | 'plain';

const SYMBOL: Record<Tone, string> = { good: '✔', bad: '✖', warn: '⚠', wait: '◷', info: '•', plain: ' ' };
const COLOUR: Record<Tone, (s: string) => string> = {
  good: paint.green,
  bad: paint.red,
  warn: paint.yellow,
  wait: paint.cyan,
  info: paint.blue,
  plain: (s) => s,
};

/** How a status reads at a glance, for run, approval, call and audit statuses alike. */
const TONE_OF: Record<string, Tone> = {
  succeeded: 'good',
  ok: 'good',
  executed: 'good',
  granted: 'good',
  'no-op': 'good',
  failed: 'bad',
  refused: 'bad',
  denied: 'bad',
  invalid: 'bad',
  'not found': 'bad',
  expired: 'warn',
  needs_attention: 'warn',
  'needs approval': 'warn',
  flag: 'warn',
  waiting_approval: 'wait',
  waiting: 'wait',
  pending: 'wait',
  running: 'info',
};

export function toneOf(status: string): Tone {
  return TONE_OF[status.toLowerCase()] ?? 'plain';
}

/**
 * A status word as printed: on a terminal with its symbol and colour ("✔ succeeded"),
 * else the word alone. `text` is what to show when it differs from the status key.
 */
export function status(key: string, text: string = key): string {
  if (!colorOn) return text;
  const tone = toneOf(key);
  return COLOUR[tone](`${SYMBOL[tone]} ${text}`);
}

/** Dim text (times, ids, secondary detail) on a terminal. */
export const dim = (text: string): string => paint.dim(text);
export const bold = (text: string): string => paint.bold(text);
