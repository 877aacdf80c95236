import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/app/config.js';

let dir: string;
afterEach(() => rmSync(dir, { recursive: true, force: true }));
const fresh = () => (dir = mkdtempSync(join(tmpdir(), 'mlops-slack-config-')));

const SLACK_ENV = {
  SLACK_BOT_TOKEN: 'xoxb-1234-5678-abcdef',
  SLACK_SIGNING_SECRET: '8f742231b10e8888abcd99yyyzzz85a5',
  SLACK_APPROVAL_CHANNEL: 'C0APPROVALS',
};

describe('Slack configuration', () => {
  it('leaves Slack off when nothing of it is set', () => {
    expect(loadConfig({ env: {}, cwd: fresh() }).slack).toBeUndefined();
  });

  it('reads the token, secret, channel and API URL from the environment and the user map from the file', () => {
    const cwd = fresh();
    writeFileSync(
      join(cwd, 'mlops-agent.yaml'),
      'slack:\n  users:\n    U0123ABC: user:alice\n    W0456DEF: user:carol\n',
    );
    const config = loadConfig({ env: { ...SLACK_ENV, SLACK_API_URL: 'http://127.0.0.1:9999/api/' }, cwd });
    expect(config.slack).toEqual({
      botToken: 'xoxb-1234-5678-abcdef',
      signingSecret: '8f742231b10e8888abcd99yyyzzz85a5',
      approvalChannel: 'C0APPROVALS',
      apiUrl: 'http://127.0.0.1:9999/api/',
      users: { U0123ABC: 'user:alice', W0456DEF: 'user:carol' },
    });
  });

  it('adds SLACK_USERS to the mapping, and names it when a pair is malformed', () => {
    const cwd = fresh();
    writeFileSync(join(cwd, 'mlops-agent.yaml'), 'slack:\n  users:\n    U0123ABC: user:alice\n');
    const config = loadConfig({ env: { ...SLACK_ENV, SLACK_USERS: 'U0456DEF=user:bob, U0123ABC=user:alice2' }, cwd });
    expect(config.slack?.users).toEqual({ U0123ABC: 'user:alice2', U0456DEF: 'user:bob' });
    expect(() => loadConfig({ env: { ...SLACK_ENV, SLACK_USERS: 'U0456DEF:user:bob' }, cwd })).toThrow(
      /slack\.users \(env SLACK_USERS\): "U0456DEF:user:bob" is not SLACKID=principal/,
    );
    // An id that names an object's own machinery is an id like any other: not a Slack one.
    expect(() => loadConfig({ env: { ...SLACK_ENV, SLACK_USERS: '__proto__=user:mallory' }, cwd })).toThrow(
      /slack\.users\.__proto__: a Slack member id looks like U0123ABC/,
    );
  });

  it('refuses a partial set-up, naming each missing key and its variable', () => {
    const cwd = fresh();
    expect(() => loadConfig({ env: { SLACK_BOT_TOKEN: SLACK_ENV.SLACK_BOT_TOKEN }, cwd })).toThrow(
      /slack\.signingSecret \(env SLACK_SIGNING_SECRET\): required: slack is partially configured \(botToken set\)/,
    );
    expect(() => loadConfig({ env: { SLACK_BOT_TOKEN: SLACK_ENV.SLACK_BOT_TOKEN }, cwd })).toThrow(
      /slack\.approvalChannel \(env SLACK_APPROVAL_CHANNEL\): required/,
    );
    expect(() =>
      loadConfig({ env: { SLACK_SIGNING_SECRET: SLACK_ENV.SLACK_SIGNING_SECRET, SLACK_APPROVAL_CHANNEL: 'C0X' }, cwd }),
    ).toThrow(/slack\.botToken \(env SLACK_BOT_TOKEN\): required/);
    expect(() => loadConfig({ env: { SLACK_USERS: 'U0123ABC=user:alice' }, cwd })).toThrow(
      /slack\.botToken \(env SLACK_BOT_TOKEN\): required: slack is partially configured/,
    );
  });

  it('names the key of a malformed value', () => {
    const cwd = fresh();
    expect(() => loadConfig({ env: { ...SLACK_ENV, SLACK_BOT_TOKEN: 'xoxp-user-token' }, cwd })).toThrow(
      /slack\.botToken \(env SLACK_BOT_TOKEN\): a bot token starts with xoxb-/,
    );
    expect(() => loadConfig({ env: { ...SLACK_ENV, SLACK_API_URL: 'nowhere' }, cwd })).toThrow(
      /slack\.apiUrl \(env SLACK_API_URL\): Invalid url/,
    );
    writeFileSync(join(cwd, 'mlops-agent.yaml'), 'slack:\n  users:\n    alice: user:alice\n');
    expect(() => loadConfig({ env: SLACK_ENV, cwd })).toThrow(
      /slack\.users\.alice: a Slack member id looks like U0123ABC/,
    );
    writeFileSync(
      join(cwd, 'mlops-agent.yaml'),
      'slack:\n  botToken: xoxb-1\n  signingSecret: s\n  approvalChannel: C0X\n  channel: C0Y\n',
    );
    expect(() => loadConfig({ env: {}, cwd })).toThrow(/Unrecognized key.*channel/);
  });
});
