// Chat in Slack over the real server: signed Events API requests start chat runs (a
// local fake Gemini plans), and the answer is posted in the question's thread by Slack's
// WebClient on the fake Slack. One run parks for approval, is approved in Slack, resumes
// and answers.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createApprovalSweeper } from '../../../src/approvals/index.js';
import { silentLogger } from '../../../src/logger.js';
import {
  functionCallReply,
  startFakeGeminiServer,
  textReply,
  type FakeGeminiServer,
} from '../../support/fake-gemini-server.js';
import { blockActions, eventCallback, FORM, formBody, JSON_TYPE, signed } from '../../support/slack-requests.js';
import { messageText, SIGNING_SECRET, slackFixture, type SlackFixture } from './slack-fixture.js';
import { eventually } from '../../support/eventually.js';

let f: SlackFixture;
let gemini: FakeGeminiServer;
beforeEach(async () => {
  gemini = await startFakeGeminiServer();
  f = await slackFixture({
    env: { MLOPS_AGENT_LLM: 'gemini', GEMINI_API_KEY: 'test-key', GEMINI_BASE_URL: gemini.baseUrl },
  });
});
afterEach(async () => {
  await f.close();
  await gemini.close();
});

const threadPosts = (threadTs: string) =>
  f.fake.callsTo('chat.postMessage').filter((c) => c.params.thread_ts === threadTs);
const mention = (eventId: string, user: string, text: string, ts = '1767225600.000100') =>
  JSON.stringify(eventCallback(eventId, { type: 'app_mention', user, text, ts, channel: 'C0ML' }));

describe('chat in Slack', () => {
  it('answers the url_verification handshake, but only when it is signed', async () => {
    const body = JSON.stringify({
      token: 'legacy',
      challenge: 'c3VwZXIgc2VjcmV0IGNoYWxsZW5nZQ',
      type: 'url_verification',
    });
    const ok = await f.post('events', body, JSON_TYPE);
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toEqual({ challenge: 'c3VwZXIgc2VjcmV0IGNoYWxsZW5nZQ' });
    expect((await f.post('events', body, JSON_TYPE, {})).statusCode).toBe(401);
    expect((await f.audit()).filter((e) => e.kind === 'chat.refused' && e.data.code === 'malformed')).toHaveLength(1);
  });

  it('starts a chat run from a mention, as the mapped identity, and posts the escaped answer in the thread', async () => {
    gemini.script(textReply('credit-risk v1 is champion. <!channel> see <https://evil.example|the report>'));
    const response = await f.post(
      'events',
      mention('Ev0MENTION1', 'U0ALICE', '<@U0BOT> which credit-risk version is champion?'),
      JSON_TYPE,
    );
    expect(response.statusCode).toBe(200);
    const answer = await eventually('the answer in the thread', () =>
      threadPosts('1767225600.000100').find((c) => messageText(c.params.blocks).includes('champion')),
    );
    expect(answer.params).toMatchObject({ channel: 'C0ML', thread_ts: '1767225600.000100' });
    expect(messageText(answer.params.blocks)).toContain(
      'credit-risk v1 is champion. &lt;!channel&gt; see &lt;https://evil.example|the report&gt;',
    );
    expect(threadPosts('1767225600.000100').some((c) => /On it: run `run_/.test(c.params.text))).toBe(true);

    const [run] = await f.runtime.runs.list();
    expect(run?.trigger).toMatchObject({
      kind: 'chat',
      principal: { id: 'user:alice' },
      text: 'which credit-risk version is champion?',
      data: { slack: { channel: 'C0ML', threadTs: '1767225600.000100', user: 'U0ALICE' } },
    });
    // The model saw the question without the mention.
    expect(JSON.stringify(gemini.requests[0]?.body)).toContain('which credit-risk version is champion?');
  });

  it('does not start a second run for a retried event, nor any for bot messages or edits', async () => {
    gemini.script(textReply('v1.'));
    const body = mention('Ev0RETRY1', 'U0ALICE', '<@U0BOT> champion?');
    expect((await f.post('events', body, JSON_TYPE)).statusCode).toBe(200);
    const retry = signed(SIGNING_SECRET, f.clock.now(), body, JSON_TYPE, {
      'x-slack-retry-num': '1',
      'x-slack-retry-reason': 'http_timeout',
    });
    expect((await f.post('events', retry.payload, JSON_TYPE, retry.headers)).statusCode).toBe(200);
    const own = JSON.stringify(
      eventCallback('Ev0BOT1', {
        type: 'message',
        channel_type: 'im',
        bot_id: 'B0FAKEBOT',
        text: 'v1.',
        ts: '1767225601.000100',
        channel: 'D0ALICE',
      }),
    );
    const edit = JSON.stringify(
      eventCallback('Ev0EDIT1', {
        type: 'message',
        channel_type: 'im',
        subtype: 'message_changed',
        ts: '1767225602.000100',
        channel: 'D0ALICE',
        message: { user: 'U0ALICE', text: 'edited' },
      }),
    );
    expect((await f.post('events', own, JSON_TYPE)).statusCode).toBe(200);
    expect((await f.post('events', edit, JSON_TYPE)).statusCode).toBe(200);
    await eventually('the answer', () =>
      threadPosts('1767225600.000100').find((c) => messageText(c.params.blocks).includes('v1.')),
    );
    await f.slack.idle();
    expect(await f.runtime.runs.list()).toHaveLength(1);
    expect(gemini.requests).toHaveLength(1);
    expect((await f.audit()).filter((e) => e.kind === 'chat.refused' && e.data.code === 'duplicate')).toHaveLength(1);
  });

  it('tells an unmapped Slack user why no run started, and starts none', async () => {
    const dm = JSON.stringify(
      eventCallback('Ev0EVE1', {
        type: 'message',
        channel_type: 'im',
        user: 'U0EVE',
        text: 'roll back credit-risk',
        ts: '1767225603.000100',
        channel: 'D0EVE',
      }),
    );
    expect((await f.post('events', dm, JSON_TYPE)).statusCode).toBe(200);
    await f.slack.idle();
    const [ephemeral] = f.fake.callsTo('chat.postEphemeral');
    expect(ephemeral?.params).toMatchObject({ channel: 'D0EVE', user: 'U0EVE', thread_ts: '1767225603.000100' });
    expect(ephemeral?.params.text).toContain('not mapped to an identity');
    expect(await f.runtime.runs.list()).toHaveLength(0);
    expect(
      (await f.audit()).find((e) => e.kind === 'chat.refused' && e.data.code === 'unknown_slack_user'),
    ).toMatchObject({ principal: 'slack:U0EVE' });
  });

  it('treats a member id like __proto__ or constructor as unknown, not as something every object has', async () => {
    for (const [i, user] of ['__proto__', 'constructor', 'toString', 'hasOwnProperty'].entries()) {
      const dm = JSON.stringify(
        eventCallback(`Ev0PROTO${i}`, {
          type: 'message',
          channel_type: 'im',
          user,
          text: 'roll back credit-risk',
          ts: `1767225603.00010${i}`,
          channel: 'D0X',
        }),
      );
      expect((await f.post('events', dm, JSON_TYPE)).statusCode).toBe(200);
    }
    await f.slack.idle();
    expect(await f.runtime.runs.list()).toHaveLength(0);
    const refused = (await f.audit()).filter((e) => e.kind === 'chat.refused' && e.data.code === 'unknown_slack_user');
    expect(refused.map((e) => e.principal)).toEqual([
      'slack:__proto__',
      'slack:constructor',
      'slack:toString',
      'slack:hasOwnProperty',
    ]);
    expect(f.fake.callsTo('chat.postEphemeral').map((c) => c.params.text)).toEqual(
      Array(4).fill(expect.stringContaining('not mapped to an identity')),
    );
  });

  it('parks a run for approval, shows why in the approval message, and answers in the thread once approved in Slack', async () => {
    const sweeper = createApprovalSweeper({
      approvals: f.runtime.approvals,
      executeApproved: (id) => f.runtime.gate.executeApproved(id),
      runs: { resume: (id) => f.queue.resume(id), waiting: () => f.runtime.runs.list({ status: 'waiting_approval' }) },
      logger: silentLogger,
    });
    gemini.script(
      functionCallReply(
        [
          {
            name: 'deploy_canary',
            args: { model: 'credit-risk', version: '2', environment: 'production', trafficPercent: 25 },
          },
        ],
        { text: 'v2 beats v1 by 0.02 AUC <!here>; widening the canary.' },
      ),
      textReply('The canary of v2 is at 25% of production.'),
    );
    await f.post(
      'events',
      mention('Ev0CANARY1', 'U0DAVE', '<@U0BOT> widen the credit-risk canary to 25%', '1767225700.000100'),
      JSON_TYPE,
    );

    const waiting = await eventually('the waiting notice in the thread', () =>
      threadPosts('1767225700.000100').find((c) => /waiting for approval/.test(c.params.text)),
    );
    const approvalId = /`(apr_[a-z0-9]+_[0-9a-f]{8})`/.exec(waiting.params.text)?.[1];
    expect(approvalId).toBeDefined();
    const approval = (await f.runtime.approvals.get(approvalId!))!;
    const notice = approval.notices.slack as { channel: string; ts: string };
    const posted = messageText(f.fake.message(notice.channel, notice.ts)!.versions[0]!.blocks);
    expect(posted).toContain('widen the credit-risk canary to 25%');
    expect(posted).toContain('v2 beats v1 by 0.02 AUC &lt;!here&gt;; widening the canary.');

    await f.post(
      'interactions',
      formBody(
        blockActions({ user: 'U0ALICE', actionId: 'approval.grant', value: `${approval.id}:${approval.argsHash}` }),
      ),
      FORM,
    );
    const answer = await eventually('the answer after the approval', () =>
      threadPosts('1767225700.000100').find((c) => messageText(c.params.blocks).includes('The canary of v2 is at 25%')),
    );
    expect(answer.params.channel).toBe('C0ML');
    await eventually('the result in the approval message', () =>
      messageText(f.fake.message(notice.channel, notice.ts)!.versions.at(-1)!.blocks).includes('*Result* (executed)')
        ? true
        : undefined,
    );
    const [run] = await f.runtime.runs.list();
    expect(run).toMatchObject({ status: 'succeeded', trigger: { principal: { id: 'user:dave' } } });
    await sweeper.stop();
  });
});
