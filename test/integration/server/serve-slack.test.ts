// The built `mlops-agent serve` with Slack configured, over a real socket: it says where
// approvals go, answers Slack's signed handshake (and refuses an unsigned one), tells a
// clicker about an approval that does not exist, and posts a chat run's outcome in the
// thread of the mention that started it, all through Slack's WebClient on a fake Slack.
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeSlackServer, type FakeSlackServer } from '../../support/fake-slack-server.js';
import { CLI } from '../../support/run-cli.js';
import { blockActions, eventCallback, FORM, formBody, JSON_TYPE, signed } from '../../support/slack-requests.js';
import { eventually } from '../../support/eventually.js';

const SECRET = 'serve-slack-signing-secret-0123456789';

describe('mlops-agent serve with Slack (the built command)', () => {
  let home: string;
  let fake: FakeSlackServer;
  beforeAll(async () => {
    home = await mkdtemp(join(tmpdir(), 'mlops-serve-slack-'));
    fake = await startFakeSlackServer({ channels: { '#approvals': 'C0APPROVALS', '#ml': 'C0ML' } });
  });
  afterAll(async () => {
    await fake.close();
    await rm(home, { recursive: true, force: true });
  });

  it('takes signed Slack requests on /v1/slack/*, refuses unsigned ones, and answers in Slack', async () => {
    const env = {
      PATH: process.env.PATH ?? '',
      HOME: home,
      MLOPS_AGENT_HOME: home,
      MLOPS_AGENT_LOG_LEVEL: 'warn',
      MLOPS_AGENT_LLM: 'runbook',
      SLACK_BOT_TOKEN: fake.token,
      SLACK_SIGNING_SECRET: SECRET,
      SLACK_APPROVAL_CHANNEL: '#approvals',
      SLACK_API_URL: fake.apiUrl,
      SLACK_USERS: 'U0ALICE=user:alice,U0BOB=user:bob',
    };
    const child = spawn(process.execPath, [CLI, 'serve', '--port', '0'], {
      env,
      cwd: home,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    try {
      const url = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no start line; stderr: ${stderr}`)), 30_000);
        child.stdout.on('data', (d: Buffer) => {
          stdout += d.toString();
          const match = /serving on (http:\/\/127\.0\.0\.1:\d+)/.exec(stdout);
          if (match && stdout.includes('Slack')) {
            clearTimeout(timer);
            resolve(match[1]!);
          }
        });
      });
      expect(stdout).toContain('Slack: approval requests go to #approvals; 2 Slack user(s) mapped to identities');
      expect(stdout).not.toContain('Slack is not configured');
      const post = (route: string, request: { headers: Record<string, string>; payload: string }) =>
        fetch(`${url}/v1/slack/${route}`, { method: 'POST', headers: request.headers, body: request.payload });

      const handshake = JSON.stringify({
        type: 'url_verification',
        challenge: 'serve-slack-challenge',
        token: 'legacy',
      });
      const ok = await post('events', signed(SECRET, Date.now(), handshake, JSON_TYPE));
      expect(ok.status).toBe(200);
      expect(await ok.json()).toEqual({ challenge: 'serve-slack-challenge' });
      const forged = await post('events', signed('another-secret-0000000000000000', Date.now(), handshake, JSON_TYPE));
      expect(forged.status).toBe(401);

      const click = formBody(
        blockActions({ user: 'U0BOB', actionId: 'approval.grant', value: `apr_mwthl1g5_15aff571:${'a'.repeat(64)}` }),
      );
      expect((await post('interactions', signed(SECRET, Date.now(), click, FORM))).status).toBe(200);
      const ephemeral = await eventually('the ephemeral answer', () => fake.callsTo('chat.postEphemeral')[0]);
      expect(ephemeral.params).toMatchObject({ channel: 'C0APPROVALS', user: 'U0BOB' });
      expect(ephemeral.params.text).toContain('not recorded (not_found)');

      // No LLM: the chat run cannot be planned; it needs a person, and says so where it was asked.
      const ask = JSON.stringify(
        eventCallback('Ev0SERVE1', {
          type: 'app_mention',
          user: 'U0ALICE',
          text: '<@U0BOT> hello',
          ts: '1767225800.000100',
          channel: 'C0ML',
        }),
      );
      expect((await post('events', signed(SECRET, Date.now(), ask, JSON_TYPE))).status).toBe(200);
      const reply = await eventually('the run outcome in the thread', () =>
        fake
          .callsTo('chat.postMessage')
          .find((c) => c.params.thread_ts === '1767225800.000100' && /needs a person/.test(c.params.text)),
      );
      expect(reply.params.channel).toBe('C0ML');
      expect(reply.params.text).toContain('needs an LLM');
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
  });
});
