// Chat in Slack, the way in: what a (signature-checked) Events API request asks for. The
// `url_verification` handshake, or an app mention or direct message that becomes a chat
// run; bot messages (our own answers included), edits, deletions and other subtypes are
// not questions. The Slack thread rides along in the trigger's data so the answer can be
// posted there when the run settles.
import { z } from 'zod';
import type { Trigger } from '../../agent/run.js';

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

/** Slack's message text to what the person typed: entities decoded, mentions and links as plain words. */
export function plainFromSlack(text: string): string {
  return text
    .replace(/<@([A-Z0-9]+)(?:\|([^>]*))?>/g, (_m, id: string, name?: string) => `@${name ?? id}`)
    .replace(/<#([A-Z0-9]+)(?:\|([^>]*))?>/g, (_m, id: string, name?: string) => `#${name || id}`)
    .replace(/<!([a-z]+)(?:\^[^|>]*)?(?:\|([^>]*))?>/g, (_m, word: string, label?: string) => label ?? `@${word}`)
    .replace(/<([a-z][a-z0-9+.-]*:[^|>]*)\|([^>]*)>/gi, '$2 ($1)')
    .replace(/<([a-z][a-z0-9+.-]*:[^>]*)>/gi, '$1')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&')
    .trim();
}

export function readSlackEvent(body: unknown): SlackEventRead {
  const parsed = envelope.safeParse(body);
  if (!parsed.success) {
    const type = (body as { type?: unknown } | null)?.type;
    return { kind: 'ignored', why: typeof type === 'string' && type !== 'url_verification' && type !== 'event_callback' ? `event envelope ${type} is not handled` : 'not an Events API envelope we read' };
  }
  const p = parsed.data;
  if (p.type === 'url_verification') return { kind: 'challenge', challenge: p.challenge };
  const e = p.event;
  const isMention = e.type === 'app_mention';
  const isDirect = e.type === 'message' && e.channel_type === 'im';
  if (!isMention && !isDirect) return { kind: 'ignored', why: `event ${e.type}${e.channel_type ? ` in ${e.channel_type}` : ''} is not a question` };
  // Our own answers come back as message.im events; answering them would loop for ever.
  if (e.bot_id || e.subtype) return { kind: 'ignored', why: e.bot_id ? 'a bot message' : `a ${e.subtype} message` };
  if (!e.user || !e.channel || !e.ts) return { kind: 'ignored', why: 'the event has no user, channel or ts' };
  // The mention that woke us is not part of the question.
  const text = plainFromSlack((e.text ?? '').replace(/^\s*(<@[A-Z0-9]+(\|[^>]*)?>\s*)+/, '')).slice(0, MAX_QUESTION);
  if (!text) return { kind: 'ignored', why: 'an empty message' };
  return { kind: 'chat', eventId: p.event_id, thread: { channel: e.channel, threadTs: e.thread_ts ?? e.ts, user: e.user }, text };
}

/** The chat run a Slack question starts, acting as the asker's mapped identity. */
export function slackChatTrigger(principalId: string, eventId: string, thread: SlackThread, text: string): Trigger {
  return { kind: 'chat', principal: { id: principalId, roles: [] }, text, data: { question: text, slack: { ...thread, eventId } } };
}

const threadSchema = z.object({ channel: z.string().min(1), threadTs: z.string().min(1), user: z.string().min(1) });

/** The Slack thread a run's answer goes to, when Slack started it. */
export function slackThreadOf(trigger: Trigger): SlackThread | null {
  if (trigger.kind !== 'chat') return null;
  const parsed = threadSchema.safeParse((trigger.data as { slack?: unknown } | null | undefined)?.slack);
  return parsed.success ? parsed.data : null;
}
