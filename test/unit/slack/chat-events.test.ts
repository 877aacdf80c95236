import { describe, expect, it } from 'vitest';
import {
  MAX_QUESTION,
  MAX_SLACK_TEXT,
  plainFromSlack,
  readSlackEvent,
  slackChatTrigger,
  slackThreadOf,
} from '../../../src/slack/index.js';

const callback = (event: Record<string, unknown>) => ({ type: 'event_callback', event_id: 'Ev0001', event });

describe('Slack events: which are questions', () => {
  it('answers the url_verification handshake with its challenge', () => {
    expect(
      readSlackEvent({
        type: 'url_verification',
        token: 't',
        challenge: '3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P',
      }),
    ).toEqual({
      kind: 'challenge',
      challenge: '3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P',
    });
  });

  it('takes an app mention without the mention, and keeps its thread', () => {
    const read = readSlackEvent(
      callback({
        type: 'app_mention',
        user: 'U0ALICE',
        text: '<@U0BOT> which version of credit-risk is champion? &lt;urgent&gt;',
        ts: '1767225600.000100',
        thread_ts: '1767225500.000001',
        channel: 'C0ML',
      }),
    );
    expect(read).toEqual({
      kind: 'chat',
      eventId: 'Ev0001',
      thread: { channel: 'C0ML', threadTs: '1767225500.000001', user: 'U0ALICE' },
      text: 'which version of credit-risk is champion? <urgent>',
    });
  });

  it('takes a direct message, threading on the message itself', () => {
    const read = readSlackEvent(
      callback({
        type: 'message',
        channel_type: 'im',
        user: 'U0ALICE',
        text: 'status of run 7?',
        ts: '1767225600.000100',
        channel: 'D0ALICE',
      }),
    );
    expect(read).toMatchObject({ kind: 'chat', thread: { channel: 'D0ALICE', threadTs: '1767225600.000100' } });
  });

  it('ignores bot messages (its own answers), edits, deletions, channel messages and empty mentions', () => {
    const ignored = [
      callback({
        type: 'message',
        channel_type: 'im',
        bot_id: 'B0FAKEBOT',
        text: 'an answer',
        ts: '1.1',
        channel: 'D0ALICE',
      }),
      callback({ type: 'message', channel_type: 'im', subtype: 'message_changed', ts: '1.1', channel: 'D0ALICE' }),
      callback({ type: 'message', channel_type: 'im', subtype: 'message_deleted', ts: '1.1', channel: 'D0ALICE' }),
      callback({
        type: 'message',
        channel_type: 'channel',
        user: 'U0ALICE',
        text: 'chatter',
        ts: '1.1',
        channel: 'C0ML',
      }),
      callback({ type: 'app_mention', user: 'U0ALICE', text: '<@U0BOT>   ', ts: '1.1', channel: 'C0ML' }),
      callback({ type: 'reaction_added', user: 'U0ALICE' }),
      { type: 'app_rate_limited', minute_rate_limited: 1 },
      'not an object',
    ];
    for (const body of ignored) expect(readSlackEvent(body).kind, JSON.stringify(body)).toBe('ignored');
  });

  it('turns Slack markup into what the person typed', () => {
    expect(
      plainFromSlack('ask <@U0BOB|bob> in <#C0ML|ml> about <https://mlflow.example/runs/7|run 7> &amp; <mailto:a@b.c>'),
    ).toBe('ask @bob in #ml about run 7 (https://mlflow.example/runs/7) & mailto:a@b.c');
  });

  it('keeps the Slack thread in the trigger, and reads it back only from chat triggers', () => {
    const trigger = slackChatTrigger(
      'user:alice',
      'Ev0001',
      { channel: 'C0ML', threadTs: '1.1', user: 'U0ALICE' },
      'hi',
    );
    expect(trigger).toMatchObject({ kind: 'chat', principal: { id: 'user:alice' }, text: 'hi' });
    expect(slackThreadOf(trigger)).toEqual({ channel: 'C0ML', threadTs: '1.1', user: 'U0ALICE' });
    expect(slackThreadOf({ ...trigger, kind: 'alert' })).toBeNull();
    expect(slackThreadOf({ ...trigger, data: { question: 'hi' } })).toBeNull();
  });

  it('reads crafted 40,000-character messages of unclosed tokens to the plain text they hold, capped before any pattern', () => {
    for (const unit of ['<a:', '<@A|', '<!a^', '<#A|', '<https://x|', '&lt;<']) {
      const crafted = unit.repeat(Math.ceil(40_000 / unit.length)).slice(0, 40_000);
      // No token is ever closed, so nothing is markup: the text is kept as typed (entities decoded), up to the cap.
      expect(plainFromSlack(crafted), unit).toBe(crafted.slice(0, MAX_SLACK_TEXT).replace(/&lt;/g, '<').trim());
    }
    const closedLate = `${'<a:'.repeat(10_000)}>`;
    expect(plainFromSlack(closedLate)).toBe(closedLate.slice(0, MAX_SLACK_TEXT));
    // Many mentions first: they are dropped, and the cap counts them.
    const mentions = '<@U0BOT> '.repeat(1000);
    const read = readSlackEvent(
      callback({
        type: 'app_mention',
        user: 'U0ALICE',
        text: `${mentions}${'<a:'.repeat(10_000)}`,
        ts: '1.1',
        channel: 'C0ML',
      }),
    );
    expect(read).toMatchObject({
      kind: 'chat',
      text: '<a:'
        .repeat(10_000)
        .slice(0, MAX_SLACK_TEXT - mentions.length)
        .slice(0, MAX_QUESTION),
    });
  });

  it('reads markup next to stray brackets as Slack would', () => {
    expect(plainFromSlack('a <<@U1|bob> b > c <#C1> <!here> <!subteam^S1|@ml> <tel:123>')).toBe(
      'a <@bob b > c #C1 @here @ml tel:123',
    );
    expect(plainFromSlack('x &amp;lt; y &gt;')).toBe('x &lt; y >');
  });
});
