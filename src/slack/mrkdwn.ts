// Putting text we did not write (the model's words, alert annotations, tool arguments,
// approvers' comments) into Slack mrkdwn without letting it become markup: no
// `<!channel>`, no `<@U…>` mention, no `<https://evil|harmless label>` link, no escape
// from a code block. Our own markup (bold labels, dates) is added around escaped text.

/** Slack's limit for a section's text and for most mrkdwn text objects. */
export const SECTION_LIMIT = 3000;

// A zero-width joiner after "@" keeps the word readable while no client or parser sees a
// broadcast keyword in it (the mrkdwn objects are also sent with `verbatim: true`).
const BROADCAST = /@(channel|here|everyone)\b/gi;
const ZWJ = '\u200D';

/**
 * Escapes untrusted text for a mrkdwn field, as Slack's formatting docs ask: `&`, `<` and
 * `>` become entities, so nothing in the text can open a `<…>` control sequence (mentions,
 * broadcasts, links, dates). Literal `@channel`-style words are defanged too, for any
 * surface that might auto-parse them.
 */
export function escapeMrkdwn(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(BROADCAST, `@${ZWJ}$1`);
}

/**
 * Cuts escaped text to `limit` characters without leaving half an entity (`&am`) at the
 * end, marking the cut. Escaping can only lengthen text, so escape first, then cut.
 */
export function truncateEscaped(escaped: string, limit: number): string {
  if (escaped.length <= limit) return escaped;
  const marker = ' …(truncated)';
  let cut = escaped.slice(0, Math.max(0, limit - marker.length));
  cut = cut.replace(/&[a-z]{0,4}$/, '');
  return `${cut}${marker}`;
}

/** Untrusted text as mrkdwn, escaped and cut to fit. */
export function untrusted(text: string, limit = SECTION_LIMIT): string {
  return truncateEscaped(escapeMrkdwn(text), limit);
}

// Inside a code span or block a backtick would close it early and let the rest render as
// markup; a modifier-letter grave accent (ˋ) looks the same and closes nothing.
const GRAVE = '\u02CB';

/** Untrusted text inside a ``` block: escaped, backticks neutralised, cut to fit. */
export function codeBlock(text: string, limit = SECTION_LIMIT): string {
  const body = truncateEscaped(escapeMrkdwn(text.replace(/`/g, GRAVE)), limit - 8);
  return `\`\`\`${body}\`\`\``;
}

/** Untrusted text inside an inline code span. */
export function inlineCode(text: string, limit = 200): string {
  const body = truncateEscaped(escapeMrkdwn(text.replace(/`/g, GRAVE).replace(/\n/g, ' ')), limit);
  return `\`${body || ' '}\``;
}

/** Untrusted text for a plain_text object (headers, button labels, modal titles): no markup is parsed there, only length matters. */
export function plainText(text: string, limit: number): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length <= limit ? flat || ' ' : `${flat.slice(0, limit - 1)}…`;
}

/**
 * A time every reader sees in their own time zone (Slack's `<!date^…>` token, which we
 * build from our own clock, never from outside text), with the ISO time as the fallback.
 */
export function slackDate(iso: string): string {
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) return escapeMrkdwn(iso);
  return `<!date^${Math.floor(ms / 1000)}^{date_short_pretty} {time_secs}|${iso}>`;
}
