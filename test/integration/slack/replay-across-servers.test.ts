// Two `serve` processes behind one Slack app share their approvals in Redis: a click
// acted on by one is a replay for the other, because the one-time key lives in the
// shared store, not in a process.
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createRedisApprovalStore, type ApprovalStore } from '../../../src/approvals/index.js';
import { startFakeSlackServer, type FakeSlackServer } from '../../support/fake-slack-server.js';
import { blockActions, FORM, formBody, signed } from '../../support/slack-requests.js';
import { SIGNING_SECRET, slackFixture, type SlackFixture } from './slack-fixture.js';

const REDIS_URL = 'redis://127.0.0.1:6379';

let prefix: string;
let fake: FakeSlackServer;
let stores: ApprovalStore[];
let a: SlackFixture;
let b: SlackFixture;

beforeEach(async () => {
  prefix = `mlops-test-slack-${randomBytes(6).toString('hex')}`;
  fake = await startFakeSlackServer({ channels: { '#approvals': 'C0APPROVALS', '#ml': 'C0ML' } });
  // One connection each, as two processes would have.
  stores = [
    createRedisApprovalStore({ connection: REDIS_URL, prefix }),
    createRedisApprovalStore({ connection: REDIS_URL, prefix }),
  ];
  a = await slackFixture({ fake, approvalStore: stores[0] });
  b = await slackFixture({ fake, approvalStore: stores[1] });
});

afterEach(async () => {
  await a.close();
  await b.close();
  for (const store of stores) await store.close();
  await fake.close();
  const redis = new Redis(REDIS_URL);
  const keys = await redis.keys(`${prefix}:*`);
  if (keys.length) await redis.del(...keys);
  await redis.quit();
});

describe('Slack replays with approvals in Redis', () => {
  it('refuses on one server a signed click another server already acted on', async () => {
    const parked = await a.park('agent:alertmanager', 100);
    const click = formBody(
      blockActions({ user: 'U0ALICE', actionId: 'approval.grant', value: `${parked.approvalId}:${parked.argsHash}` }),
    );
    const request = signed(SIGNING_SECRET, a.clock.now(), click, FORM);
    expect((await a.post('interactions', request.payload, FORM, request.headers)).statusCode).toBe(200);
    await a.slack.idle();
    const replay = await b.post('interactions', request.payload, FORM, request.headers);
    expect(replay.statusCode).toBe(409);
    await b.slack.idle();
    expect((await b.runtime.approvals.get(parked.approvalId))?.votes.map((v) => v.by)).toEqual(['user:alice']);
    expect((await b.audit()).filter((e) => e.kind === 'approval.refused' && e.data.code === 'replayed')).toHaveLength(
      1,
    );

    // The other server takes the next person's click, and updates the same Slack message.
    await b.post(
      'interactions',
      formBody(
        blockActions({ user: 'U0CAROL', actionId: 'approval.grant', value: `${parked.approvalId}:${parked.argsHash}` }),
      ),
      FORM,
    );
    await b.slack.idle();
    expect((await a.runtime.approvals.get(parked.approvalId))?.status).toBe('granted');
    expect(fake.callsTo('chat.update').at(-1)?.params).toMatchObject({ channel: parked.channel, ts: parked.ts });
  });
});
