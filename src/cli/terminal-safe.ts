// Text from outside (alert names and labels, chat messages, model output, comments) is
// printed by `runs`, `audit tail` and `approvals` into an operator's terminal. There it
// must stay text: a newline cannot start a forged timeline line, an ANSI escape cannot
// recolour, move the cursor or retitle the window, and a bidi override cannot make
// `rollback` read as something else. Each such character is shown as an escape instead.

/**
 * C0 controls (newline, carriage return, ESC, ...), DEL and C1 controls (CSI is 0x9b);
 * bidi embeddings, overrides and isolates, the marks that steer them, and invisible
 * format characters that hide text (zero-width spaces and joiners, word joiner, BOM,
 * line and paragraph separators).
 */
const UNSAFE =
  /[\u0000-\u001f\u007f-\u009f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff\ufff9-\ufffb]/g;
/** The same, without the C0 controls JSON.stringify already escapes. */
const UNSAFE_IN_JSON = /[\u007f-\u009f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff\ufff9-\ufffb]/g;

const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

function escapeOne(ch: string): string {
  const named = NAMED[ch];
  if (named) return named;
  const code = ch.charCodeAt(0);
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
}

/** One line of text as it may be printed: every control, ANSI and bidi character escaped. */
export function terminalSafe(text: string): string {
  return text.replace(UNSAFE, escapeOne);
}

/** Text that may span lines (an answer): each line made safe, continuation lines indented. */
export function terminalSafeLines(text: string, indent: string): string {
  return text
    .split('\n')
    .map((line) => terminalSafe(line))
    .join(`\n${indent}`);
}

/** JSON output (`--json`): the same value when parsed, with nothing in it a terminal acts on. */
export function jsonSafe(json: string): string {
  return json.replace(UNSAFE_IN_JSON, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
