// Chat in Slack, the way in: what a (signature-checked) Events API request asks for. The
// `url_verification` handshake, or an app mention or direct message that becomes a chat
// run; bot messages (our own answers included), edits, deletions and other subtypes are
// not questions. The Slack thread rides along in the trigger's data so the answer can be
// posted there when the run settles.
import { z } from 'zod';
import type { Trigger } from '../agent/run.js';

const envelope = z.discriminatedUnion('type', [
  z.object({ type: z.literal('url_verification'), challenge: z.string().min(1).max(500) }).passthrough(),
  z
    .object({
      type: z.literal('event_callback'),
      event_id: z.string().min(1),
      event: z
        .object({
          type: z.string(),
          subtype: z.string().optional(),
          bot_id: z.string().optional(),
          user: z.string().optional(),
          text: z.string().optional(),
          ts: z.string().optional(),
          thread_ts: z.string().optional(),
          channel: z.string().optional(),
          channel_type: z.string().optional(),
        })
        .passthrough(),
    })
    .passthrough(),
]);

export interface SlackThread {
  channel: string;
  /** The message the conversation hangs from: the question's own ts, or its thread's. */
  threadTs: string;
  /** Who asked (Slack member id). */
  user: string;
}

export type SlackEventRead =
  | { kind: 'challenge'; challenge: string }
  | { kind: 'ignored'; why: string }
  | { kind: 'chat'; eventId: string; thread: SlackThread; text: string };

/** The longest question passed on, like POST /v1/chat. */
export const MAX_QUESTION = 8000;

/**
 * The most of a message's text that is read (Slack allows 40,000 characters). Markup
 * shortens or lengthens text only a little, so twice the question's length is plenty;
 * the cap comes before any pattern is applied, and every step after it is linear.
 */
export const MAX_SLACK_TEXT = 2 * MAX_QUESTION;

const ENTITY = /&(lt|gt|amp);/g;
const ENTITIES: Record<string, string> = { lt: '<', gt: '>', amp: '&' };
const decode = (text: string) => text.replace(ENTITY, (_m, name: string) => ENTITIES[name]!);

// One token, the text between `<` and `>` (no `>` inside): each pattern is anchored at both
// ends and has one way to match, so a token costs time linear in its length.
const USER = /^@([A-Z0-9]+)(?:\|([^]*))?$/;
const CHANNEL = /^#([A-Z0-9]+)(?:\|([^]*))?$/;
const SPECIAL = /^!([a-z]+)(?:\^[^|]*)?(?:\|([^]*))?$/;
const LABELLED_LINK = /^([a-z][a-z0-9+.-]*:[^|]*)\|([^]*)$/i;
const LINK = /^([a-z][a-z0-9+.-]*:[^]*)$/i;

/** What the person typed for one `<…>` token, or null when it is not Slack markup. */
function tokenText(token: string): string | null {
  let m = USER.exec(token);
  if (m) return `@${m[2] ?? m[1]}`;
  if ((m = CHANNEL.exec(token))) return `#${m[2] || m[1]}`;
  if ((m = SPECIAL.exec(token))) return m[2] ?? `@${m[1]}`;
  if ((m = LABELLED_LINK.exec(token))) return `${m[2]} (${m[1]})`;
  if ((m = LINK.exec(token))) return m[1]!;
  return null;
}

/**
 * Slack's message text to what the person typed: entities decoded, mentions and links as
 * plain words. One pass over at most MAX_SLACK_TEXT characters: each `<` is matched with
 * the next `>` once (when there is none, none follows any later `<` either), so a crafted
 * message of unclosed tokens costs linear time, not a scan to the end per token.
 */
export function plainFromSlack(text: string): string {
  const input = text.length > MAX_SLACK_TEXT ? text.slice(0, MAX_SLACK_TEXT) : text;
  let out = '';
  let i = 0;
  while (i < input.length) {
    let lt = input.indexOf('<', i);
    const gt = lt === -1 ? -1 : input.indexOf('>', lt + 1);
    if (gt === -1) {
      out += decode(input.slice(i));
      break;
    }
    // A token starts at the last `<` before its `>` (`<<@U1>` is `<` and a mention).
    lt = input.lastIndexOf('<', gt);
    out += decode(input.slice(i, lt));
    const plain = tokenText(input.slice(lt + 1, gt));
    out += plain === null ? decode(input.slice(lt, gt + 1)) : decode(plain);
    i = gt + 1;
  }
  return out.trim();
}

// Sticky: tried only where the last mention ended, so the text is read once.
const LEADING_MENTION = /\s*<@[A-Z0-9]+(?:\|[^>]*)?>/y;

/** The text without the mentions that open it (the one that woke us, and any beside it). */
function withoutLeadingMentions(text: string): string {
  let at = 0;
  for (;;) {
    LEADING_MENTION.lastIndex = at;
    if (!LEADING_MENTION.test(text)) break;
    at = LEADING_MENTION.lastIndex;
  }
  return text.slice(at);
}

export function readSlackEvent(body: unknown): SlackEventRead {
  const parsed = envelope.safeParse(body);
  if (!parsed.success) {
    const type = (body as { type?: unknown } | null)?.type;
    return {
      kind: 'ignored',
      why:
        typeof type === 'string' && type !== 'url_verification' && type !== 'event_callback'
          ? `event envelope ${type} is not handled`
          : 'not an Events API envelope we read',
    };
  }
  const p = parsed.data;
  if (p.type === 'url_verification') return { kind: 'challenge', challenge: p.challenge };
  const e = p.event;
  const isMention = e.type === 'app_mention';
  const isDirect = e.type === 'message' && e.channel_type === 'im';
  if (!isMention && !isDirect)
    return {
      kind: 'ignored',
      why: `event ${e.type}${e.channel_type ? ` in ${e.channel_type}` : ''} is not a question`,
    };
  // Our own answers come back as message.im events; answering them would loop for ever.
  if (e.bot_id || e.subtype) return { kind: 'ignored', why: e.bot_id ? 'a bot message' : `a ${e.subtype} message` };
  if (!e.user || !e.channel || !e.ts) return { kind: 'ignored', why: 'the event has no user, channel or ts' };
  // The mention that woke us is not part of the question.
  const text = plainFromSlack(withoutLeadingMentions((e.text ?? '').slice(0, MAX_SLACK_TEXT))).slice(0, MAX_QUESTION);
  if (!text) return { kind: 'ignored', why: 'an empty message' };
  return {
    kind: 'chat',
    eventId: p.event_id,
    thread: { channel: e.channel, threadTs: e.thread_ts ?? e.ts, user: e.user },
    text,
  };
}

/** The chat run a Slack question starts, acting as the asker's mapped identity. */
export function slackChatTrigger(principalId: string, eventId: string, thread: SlackThread, text: string): Trigger {
  return {
    kind: 'chat',
    principal: { id: principalId, roles: [] },
    text,
    data: { question: text, slack: { ...thread, eventId } },
  };
}

const threadSchema = z.object({ channel: z.string().min(1), threadTs: z.string().min(1), user: z.string().min(1) });

/** The Slack thread a run's answer goes to, when Slack started it. */
export function slackThreadOf(trigger: Trigger): SlackThread | null {
  if (trigger.kind !== 'chat') return null;
  const parsed = threadSchema.safeParse((trigger.data as { slack?: unknown } | null | undefined)?.slack);
  return parsed.success ? parsed.data : null;
}
