// Deciding approvals in Slack, end to end over the real server: Slack's WebClient posts
// and updates messages on a local fake Slack, and clicks arrive at /v1/slack/interactions
// signed (or forged, stale, replayed) the way Slack signs them.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AuditEntry } from '../../../src/audit/index.js';
import { blockActions, FORM, formBody, signed, slackSignature, viewSubmission } from '../../support/slack-requests.js';
import { messageText, SIGNING_SECRET, slackFixture, type SlackFixture } from './slack-fixture.js';

let f: SlackFixture;
beforeEach(async () => {
  f = await slackFixture();
});
afterEach(async () => {
  await f.close();
});

const click = (
  user: string,
  target: { approvalId: string; argsHash: string },
  actionId = 'approval.grant',
  extra: Partial<Parameters<typeof blockActions>[0]> = {},
) => formBody(blockActions({ user, actionId, value: `${target.approvalId}:${target.argsHash}`, ...extra }));

const refusals = (entries: AuditEntry[], code: string) =>
  entries.filter((e) => e.kind === 'approval.refused' && e.data.code === code);
const lastVersion = (m: { channel: string; ts: string }) => f.fake.message(m.channel, m.ts)!.versions.at(-1)!;

describe('approvals in Slack', () => {
  it('posts the request to the approval channel with Slack’s SDK: form body, bot token, blocks and buttons', async () => {
    const parked = await f.park('agent:alertmanager', 25);
    const [post] = f.fake.callsTo('chat.postMessage');
    expect(post?.contentType).toBe('application/x-www-form-urlencoded');
    expect(post?.authorization).toBe(`Bearer ${f.fake.token}`);
    expect(post?.params).toMatchObject({
      channel: '#approvals',
      parse: 'none',
      link_names: 'false',
      unfurl_links: 'false',
    });
    // Slack answered with the channel's id, which is what chat.update needs later.
    expect(parked.channel).toBe('C0APPROVALS');
    const text = messageText(post!.params.blocks);
    for (const part of [
      'deploy_canary',
      'agent:alertmanager',
      '*Now:* v1 100%',
      '*After:* stable v1 75%, canary v2 25%',
      '"trafficPercent": 25',
      'approve-production-canary-above-5',
      'ml-leads',
    ])
      expect(text, part).toContain(part);
    const buttons = (post!.params.blocks as { type: string; elements?: { action_id: string; value: string }[] }[]).find(
      (b) => b.type === 'actions',
    )!.elements!;
    expect(buttons.map((b) => [b.action_id, b.value])).toEqual([
      ['approval.grant', `${parked.approvalId}:${parked.argsHash}`],
      ['approval.deny', `${parked.approvalId}:${parked.argsHash}`],
    ]);
  });

  it('grants on a signed Approve click by an authorised mapped user and updates the message with who and when', async () => {
    const parked = await f.park('user:dave', 25);
    f.clock.advance(60_000);
    const response = await f.post('interactions', click('U0ALICE', parked), FORM);
    expect(response.statusCode).toBe(200);
    await f.slack.idle();

    const approval = await f.runtime.approvals.get(parked.approvalId);
    expect(approval?.status).toBe('granted');
    expect(approval?.votes).toMatchObject([{ by: 'user:alice', verdict: 'grant', via: 'slack', roles: ['ml-leads'] }]);
    const entries = await f.audit();
    expect(entries.find((e) => e.kind === 'approval.vote')).toMatchObject({
      principal: 'user:alice',
      data: { approvalId: parked.approvalId, verdict: 'grant', via: 'slack' },
    });
    expect(entries.find((e) => e.kind === 'approval.granted')).toMatchObject({
      principal: 'user:alice',
      data: { approvalId: parked.approvalId },
    });

    const updates = f.fake.callsTo('chat.update');
    expect(updates.at(-1)?.params).toMatchObject({ channel: 'C0APPROVALS', ts: parked.ts });
    const shown = lastVersion(parked);
    const text = messageText(shown.blocks);
    expect(text).toContain('*Approved*');
    expect(text).toContain('user:alice');
    expect(text).toContain('|2026-01-01T09:01:00.000Z>');
    expect(shown.blocks.some((b) => b.type === 'actions')).toBe(false);
  });

  it('shows the result in the message once the approved call ran', async () => {
    const parked = await f.park('user:dave', 25);
    await f.post('interactions', click('U0ALICE', parked), FORM);
    await f.slack.idle();
    const outcome = await f.runtime.gate.executeApproved(parked.approvalId);
    expect(outcome.status).toBe('executed');
    const text = messageText(lastVersion(parked).blocks);
    expect(text).toContain('*Result* (executed)');
    expect(f.backends.splits.get('credit-risk/production')).toMatchObject({ canaryVersion: '2' });
  });

  it('refuses a forged signature with 401, audits it, and changes nothing', async () => {
    const parked = await f.park('user:dave', 25);
    const body = click('U0ALICE', parked);
    const timestamp = String(Math.floor(f.clock.now() / 1000));
    const response = await f.post('interactions', body, FORM, {
      'x-slack-request-timestamp': timestamp,
      'x-slack-signature': slackSignature('not-the-signing-secret-000000000', timestamp, body),
    });
    expect(response.statusCode).toBe(401);
    expect(response.json()).toEqual({ error: 'unauthorized', message: 'not a verified Slack request' });
    await f.slack.idle();
    expect((await f.runtime.approvals.get(parked.approvalId))?.votes).toEqual([]);
    expect(f.fake.callsTo('chat.update')).toHaveLength(0);
    const [refused] = refusals(await f.audit(), 'forged');
    expect(refused).toMatchObject({
      principal: 'slack:unverified',
      data: { approvalId: parked.approvalId, via: 'slack' },
    });
    expect(String(refused?.data.reason)).toContain('U0ALICE');
  });

  it('refuses a timestamp more than five minutes old, or in the future, with 401 and an audit entry', async () => {
    const parked = await f.park('user:dave', 25);
    const stale = signed(SIGNING_SECRET, f.clock.now() - 301_000, click('U0ALICE', parked), FORM);
    const future = signed(SIGNING_SECRET, f.clock.now() + 301_000, click('U0BOB', parked), FORM);
    expect((await f.post('interactions', stale.payload, FORM, stale.headers)).statusCode).toBe(401);
    expect((await f.post('interactions', future.payload, FORM, future.headers)).statusCode).toBe(401);
    await f.slack.idle();
    expect((await f.runtime.approvals.get(parked.approvalId))?.status).toBe('pending');
    const entries = await f.audit();
    expect(refusals(entries, 'stale')).toHaveLength(1);
    expect(refusals(entries, 'future')).toHaveLength(1);
  });

  it('answers 401 to missing or malformed headers and bodies, never crashing', async () => {
    const parked = await f.park('user:dave', 25);
    const body = click('U0ALICE', parked);
    const now = String(Math.floor(f.clock.now() / 1000));
    const good = slackSignature(SIGNING_SECRET, now, body);
    const cases: [string, string, Record<string, string>][] = [
      [body, FORM, {}],
      [body, FORM, { 'x-slack-signature': good }],
      [body, FORM, { 'x-slack-request-timestamp': now }],
      [body, FORM, { 'x-slack-request-timestamp': 'yesterday', 'x-slack-signature': good }],
      [body, FORM, { 'x-slack-request-timestamp': now, 'x-slack-signature': 'v0=nothex' }],
      [body, FORM, { 'x-slack-request-timestamp': now, 'x-slack-signature': `${good}=extra` }],
      ['', FORM, { 'x-slack-request-timestamp': now, 'x-slack-signature': good }],
      ['\u0000\u00ff binary', 'application/octet-stream', {}],
      ['{"not":"a form"', 'application/json', { 'x-slack-request-timestamp': now }],
    ];
    for (const [payload, contentType, headers] of cases) {
      const response = await f.post('interactions', payload, contentType, headers);
      expect(response.statusCode, JSON.stringify(headers)).toBe(401);
    }
    expect((await f.post('events', '{}', 'application/json', {})).statusCode).toBe(401);
    expect(refusals(await f.audit(), 'malformed').length).toBeGreaterThanOrEqual(8);
    // Still serving, and the approval untouched: a good request now works.
    expect((await f.post('interactions', body, FORM)).statusCode).toBe(200);
    await f.slack.idle();
    expect((await f.runtime.approvals.get(parked.approvalId))?.status).toBe('granted');
  });

  it('refuses a replay of the same signed request: audited, and no second vote', async () => {
    // Two people needed, so a second vote would not be hidden by the approval being decided.
    const parked = await f.park('agent:alertmanager', 100);
    const request = signed(SIGNING_SECRET, f.clock.now(), click('U0ALICE', parked), FORM);
    expect((await f.post('interactions', request.payload, FORM, request.headers)).statusCode).toBe(200);
    await f.slack.idle();
    const replay = await f.post('interactions', request.payload, FORM, request.headers);
    expect(replay.statusCode).toBe(409);
    expect(replay.json()).toMatchObject({ error: 'replayed' });
    // Re-signed later with a fresh timestamp, the same action is still the same action.
    f.clock.advance(30_000);
    expect((await f.post('interactions', request.payload, FORM)).statusCode).toBe(409);
    await f.slack.idle();
    const approval = await f.runtime.approvals.get(parked.approvalId);
    expect(approval?.votes).toHaveLength(1);
    const entries = await f.audit();
    expect(entries.filter((e) => e.kind === 'approval.vote')).toHaveLength(1);
    expect(refusals(entries, 'replayed')).toHaveLength(2);
    expect(refusals(entries, 'replayed')[0]).toMatchObject({
      principal: 'user:alice',
      data: { approvalId: parked.approvalId },
    });
    // The service never saw the replays: no "already voted" refusal either.
    expect(refusals(entries, 'already_voted')).toHaveLength(0);
  });

  it('tells an unmapped Slack user, only them, why nothing changed', async () => {
    const parked = await f.park('user:dave', 25);
    expect((await f.post('interactions', click('U0EVE', parked), FORM)).statusCode).toBe(200);
    await f.slack.idle();
    const [ephemeral] = f.fake.callsTo('chat.postEphemeral');
    expect(ephemeral?.params).toMatchObject({ channel: 'C0APPROVALS', user: 'U0EVE' });
    expect(ephemeral?.params.text).toContain('not mapped to an approver identity');
    expect((await f.runtime.approvals.get(parked.approvalId))?.votes).toEqual([]);
    expect(f.fake.callsTo('chat.update')).toHaveLength(0);
    expect(refusals(await f.audit(), 'unknown_slack_user')).toMatchObject([
      { principal: 'slack:U0EVE', data: { approvalId: parked.approvalId } },
    ]);
  });

  it('treats a clicker id like __proto__ or constructor as an unmapped user, and changes nothing', async () => {
    const parked = await f.park('user:dave', 25);
    for (const user of ['__proto__', 'constructor', 'valueOf']) {
      expect((await f.post('interactions', click(user, parked), FORM)).statusCode).toBe(200);
    }
    await f.slack.idle();
    expect((await f.runtime.approvals.get(parked.approvalId))?.votes).toEqual([]);
    expect(f.fake.callsTo('chat.postEphemeral').map((c) => c.params.text)).toEqual(
      Array(3).fill(expect.stringContaining('not mapped to an approver identity')),
    );
    expect(refusals(await f.audit(), 'unknown_slack_user').map((e) => e.principal)).toEqual([
      'slack:__proto__',
      'slack:constructor',
      'slack:valueOf',
    ]);
  });

  it('tells a mapped user without the rule’s roles why their approval does not count', async () => {
    const parked = await f.park('agent:alertmanager', 25);
    await f.post('interactions', click('U0DAVE', parked), FORM);
    await f.slack.idle();
    const [ephemeral] = f.fake.callsTo('chat.postEphemeral');
    expect(ephemeral?.params).toMatchObject({ user: 'U0DAVE' });
    expect(ephemeral?.params.text).toMatch(
      /not recorded \(not_authorised\): user:dave holds no roles; this approval needs one of \[ml-leads\]/,
    );
    expect((await f.runtime.approvals.get(parked.approvalId))?.status).toBe('pending');
    expect(refusals(await f.audit(), 'not_authorised')).toMatchObject([{ principal: 'user:dave' }]);
  });

  it('does not let the requester approve their own request', async () => {
    const parked = await f.park('user:alice', 25);
    await f.post('interactions', click('U0ALICE', parked), FORM);
    await f.slack.idle();
    const [ephemeral] = f.fake.callsTo('chat.postEphemeral');
    expect(ephemeral?.params).toMatchObject({ user: 'U0ALICE' });
    expect(ephemeral?.params.text).toContain('self_approval');
    expect((await f.runtime.approvals.get(parked.approvalId))?.votes).toEqual([]);
    expect(refusals(await f.audit(), 'self_approval')).toHaveLength(1);
  });

  it('asks for a reason on Deny (a modal) and denies with it when the form is submitted', async () => {
    const parked = await f.park('user:dave', 25);
    const deny = await f.post(
      'interactions',
      click('U0BOB', parked, 'approval.deny', { triggerId: '1234.5678.deny' }),
      FORM,
    );
    expect(deny.statusCode).toBe(200);
    await f.slack.idle();
    const [open] = f.fake.callsTo('views.open');
    expect(open?.params.trigger_id).toBe('1234.5678.deny');
    expect(open?.params.view).toMatchObject({
      type: 'modal',
      callback_id: 'approval.deny',
      private_metadata: `${parked.approvalId}:${parked.argsHash}`,
    });
    // Nothing is decided by the click alone.
    expect((await f.runtime.approvals.get(parked.approvalId))?.status).toBe('pending');

    const reason = 'not during the freeze <!channel> <https://evil.example|details>';
    const submit = await f.post(
      'interactions',
      formBody(
        viewSubmission({
          user: 'U0BOB',
          viewId: 'V0DENY0001',
          privateMetadata: open!.params.view.private_metadata,
          reason,
        }),
      ),
      FORM,
    );
    expect(submit.statusCode).toBe(200);
    // An empty 200 closes the modal.
    expect(submit.body).toBe('');
    await f.slack.idle();
    const approval = await f.runtime.approvals.get(parked.approvalId);
    expect(approval?.status).toBe('denied');
    expect(approval?.votes).toMatchObject([{ by: 'user:bob', verdict: 'deny', comment: reason, via: 'slack' }]);
    expect((await f.audit()).find((e) => e.kind === 'approval.denied')).toMatchObject({ principal: 'user:bob' });
    const text = messageText(lastVersion(parked).blocks);
    expect(text).toContain('*Denied*');
    expect(text).toContain('not during the freeze &lt;!channel&gt; &lt;https://evil.example|details&gt;');
    // The same submission again is a replay.
    const again = await f.post(
      'interactions',
      formBody(
        viewSubmission({
          user: 'U0BOB',
          viewId: 'V0DENY0001',
          privateMetadata: open!.params.view.private_metadata,
          reason,
        }),
      ),
      FORM,
    );
    expect(again.statusCode).toBe(409);
  });

  it('opens no reason form for a Deny it would refuse, and says why at once', async () => {
    const parked = await f.park('agent:alertmanager', 25);
    await f.post('interactions', click('U0DAVE', parked, 'approval.deny', { triggerId: '1234.5678.nope' }), FORM);
    await f.slack.idle();
    expect(f.fake.callsTo('views.open')).toHaveLength(0);
    const [ephemeral] = f.fake.callsTo('chat.postEphemeral');
    expect(ephemeral?.params).toMatchObject({ user: 'U0DAVE' });
    expect(ephemeral?.params.text).toMatch(/denial was not recorded \(not_authorised\): user:dave holds no roles/);
    expect((await f.runtime.approvals.get(parked.approvalId))?.status).toBe('pending');
    expect(refusals(await f.audit(), 'not_authorised')).toMatchObject([
      { principal: 'user:dave', data: { approvalId: parked.approvalId, via: 'slack' } },
    ]);
  });

  it('needs an ML lead and a risk officer, two different people, for a promotion to 100%', async () => {
    const parked = await f.park('agent:alertmanager', 100);
    await f.post('interactions', click('U0ALICE', parked), FORM);
    await f.slack.idle();
    expect((await f.runtime.approvals.get(parked.approvalId))?.status).toBe('pending');
    let text = messageText(lastVersion(parked).blocks);
    expect(text).toContain('user:alice');
    expect(text).toContain('including one from each of [risk-officers]');

    // A second ML lead does not make up for the missing risk officer.
    await f.post('interactions', click('U0BOB', parked), FORM);
    await f.slack.idle();
    expect((await f.runtime.approvals.get(parked.approvalId))?.status).toBe('pending');

    await f.post('interactions', click('U0CAROL', parked), FORM);
    await f.slack.idle();
    const approval = await f.runtime.approvals.get(parked.approvalId);
    expect(approval?.status).toBe('granted');
    expect(approval?.votes.map((v) => v.by)).toEqual(['user:alice', 'user:bob', 'user:carol']);
    text = messageText(lastVersion(parked).blocks);
    expect(text).toContain('*Approved*');
    expect(text).toContain('user:carol');
  });

  it('updates the message when the approval expires', async () => {
    const parked = await f.park('user:dave', 25);
    f.clock.advance(4 * 60 * 60_000 + 1000);
    const expired = await f.runtime.approvals.expireDue();
    expect(expired.map((a) => a.id)).toEqual([parked.approvalId]);
    const shown = lastVersion(parked);
    expect(messageText(shown.blocks)).toContain('*Expired*');
    expect(shown.blocks.some((b) => b.type === 'actions')).toBe(false);
    // A click on the stale button now only explains.
    await f.post('interactions', click('U0ALICE', parked), FORM);
    await f.slack.idle();
    expect(f.fake.callsTo('chat.postEphemeral').at(-1)?.params.text).toContain('not_pending');
  });

  it('keeps an approval decidable when Slack refuses the message, and says why in the log', async () => {
    f.fake.failNext('chat.postMessage', { error: 'channel_not_found' });
    await expect(f.park('user:dave', 25)).rejects.toThrow(/no Slack message/);
    const [approval] = await f.runtime.approvals.list({ status: 'pending' });
    expect(approval?.notices).toEqual({});
    const decided = await f.runtime.approvals.decide(approval!.id, {
      approverId: 'user:alice',
      verdict: 'grant',
      comment: null,
      via: 'http',
    });
    expect(decided.ok).toBe(true);
  });

  it('lets Slack in without a bearer token, and only Slack: other routes still need one', async () => {
    const parked = await f.park('user:dave', 25);
    expect((await f.post('interactions', click('U0ALICE', parked), FORM)).statusCode).toBe(200);
    const chat = await f.app.inject({
      method: 'POST',
      url: '/v1/chat',
      headers: { 'content-type': 'application/json' },
      payload: { text: 'hi' },
    });
    expect(chat.statusCode).toBe(401);
    await f.slack.idle();
  });
});
