// Issue 6's whole story with the built command: the agent (Gemini, over the real SDK
// against a local server) asks for a production canary at 25%; the run parks; `serve`
// (with its worker) is restarted while it waits; forged, stale, replayed, self- and
// unauthorised clicks are refused; an ML lead approves in Slack (signed like Slack signs);
// the canary executes once; the agent then asks to promote, which needs an ML lead and a
// risk officer; both approve; it executes once; and the audit log verifies.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openLocalLab } from '../../src/backends/local/index.js';
import { readAuditEntries, type AuditEntry } from '../../src/audit/index.js';
import { loadConfig } from '../../src/app/config.js';
import { silentLogger } from '../../src/logger.js';
import { versionInput } from '../contract/model-registry.contract.js';
import { REDIS_URL, uniqueNames, wipe } from '../integration/intake/redis-helpers.js';
import { eventually, startCli, type CliProcess } from '../support/cli-process.js';
import {
  functionCallReply,
  startFakeGeminiServer,
  textReply,
  type FakeGeminiServer,
} from '../support/fake-gemini-server.js';
import { startFakeSlackServer, type FakeSlackServer } from '../support/fake-slack-server.js';
import { runCli } from '../support/run-cli.js';
import { blockActions, FORM, formBody, signed, slackSignature } from '../support/slack-requests.js';

const TOKEN = 'approval-e2e-operator-token-0123';
const SECRET = '8f742231b10e8888abcd99yyyzzz85a5';
const CHANNEL = 'C0APPROVALS';
const USERS = 'U0ALICE=user:alice,U0CAROL=user:carol,U0OPERATOR=user:operator,U0MALLORY=user:mallory';
const canary = (trafficPercent: number) => ({
  model: 'credit-risk',
  version: '2',
  environment: 'production',
  trafficPercent,
});

describe('a production canary approved in Slack across a restart (the built command)', () => {
  let home: string;
  let prefix: string;
  let slack: FakeSlackServer;
  let gemini: FakeGeminiServer;
  let serve: CliProcess | null = null;
  let url = '';

  const env = () => ({
    MLOPS_AGENT_HOME: home,
    REDIS_URL,
    MLOPS_AGENT_QUEUE_PREFIX: prefix,
    MLOPS_AGENT_API_TOKEN: TOKEN,
    GEMINI_API_KEY: 'test-key',
    GEMINI_BASE_URL: gemini.baseUrl,
    SLACK_BOT_TOKEN: slack.token,
    SLACK_SIGNING_SECRET: SECRET,
    SLACK_APPROVAL_CHANNEL: CHANNEL,
    SLACK_API_URL: slack.apiUrl,
    SLACK_USERS: USERS,
  });

  async function startServe(): Promise<void> {
    serve = startCli(['serve', '--port', '0'], { cwd: home, env: env() });
    [, url] = (await serve.line(/serving on (http:\/\/127\.0\.0\.1:\d+)/)) as unknown as [string, string];
  }

  const api = async (path: string, init: RequestInit = {}) => {
    const res = await fetch(`${url}${path}`, {
      ...init,
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', ...(init.headers ?? {}) },
    });
    return { status: res.status, body: (await res.json()) as any };
  };
  const interact = (body: string, headers?: Record<string, string>) =>
    fetch(`${url}/v1/slack/interactions`, {
      method: 'POST',
      headers: headers ?? signed(SECRET, Date.now(), body, FORM).headers,
      body,
    });
  const click = (user: string, approval: { id: string; argsHash: string }) =>
    formBody(blockActions({ user, actionId: 'approval.grant', value: `${approval.id}:${approval.argsHash}` }));

  async function pendingApproval(tool: string, trafficPercent: number) {
    return eventually(
      `an approval for ${tool} at ${trafficPercent}%`,
      async () => {
        const { body } = await api('/v1/approvals?status=pending');
        return (body.approvals as any[]).find((a) => a.tool === tool && a.args.trafficPercent === trafficPercent);
      },
      60_000,
    );
  }
  const approval = async (id: string) => (await api(`/v1/approvals/${id}`)).body;
  const ephemeralsTo = (user: string) => slack.callsTo('chat.postEphemeral').filter((c) => c.params.user === user);
  const audit = () => readAuditEntries(join(home, 'audit.jsonl'));
  const executions = (entries: AuditEntry[]) =>
    entries.filter((e) => e.kind === 'execution.started' && e.data.tool === 'deploy_canary');

  beforeAll(async () => {
    home = await mkdtemp(join(tmpdir(), 'mlops-approval-e2e-'));
    prefix = uniqueNames().prefix;
    slack = await startFakeSlackServer({ channels: { approvals: CHANNEL } });
    gemini = await startFakeGeminiServer();
    // Canary steps without traffic pause quickly instead of waiting five minutes; no watch.
    await writeFile(
      join(home, 'mlops-agent.yaml'),
      'lab:\n  canary:\n    stepTimeoutMs: 300\n    watchIntervalMs: 3600000\n',
    );
    const config = loadConfig({ env: { MLOPS_AGENT_HOME: home }, cwd: home });
    const lab = await openLocalLab({ config, logger: silentLogger });
    await lab.registry.createModel('credit-risk', 'probability of default');
    await lab.registry.registerVersion(versionInput('credit-risk', 0.86));
    await lab.registry.registerVersion(versionInput('credit-risk', 0.88));
    await lab.deployer.serve('credit-risk', 'production', '1');
    await lab.close();
  });

  afterAll(async () => {
    await serve?.stop();
    await slack?.close();
    await gemini?.close();
    await wipe(prefix, 'runs');
    await rm(home, { recursive: true, force: true });
  });

  it('waits, survives the restart, takes only proper approvals, and executes each approved call once', async () => {
    gemini.script(
      functionCallReply([{ name: 'deploy_canary', args: canary(25) }], {
        text: 'v2 beats v1 by 0.02 AUC; widening its canary to 25%.',
      }),
      functionCallReply([{ name: 'deploy_canary', args: canary(100) }], { text: 'The canary held; promoting v2.' }),
      textReply('v2 now serves production.'),
    );
    await startServe();
    await serve!.line(
      new RegExp(`Slack: approval requests go to ${CHANNEL}; 4 Slack user\\(s\\) mapped to identities`),
    );
    const { status, body } = await api('/v1/chat', {
      method: 'POST',
      body: JSON.stringify({ text: 'widen the credit-risk v2 canary to 25% in production' }),
    });
    expect(status).toBe(202);
    const runId = body.runId as string;

    // The run parks on the 25% canary; the request is posted to the approval channel.
    const first = await pendingApproval('deploy_canary', 25);
    expect(first).toMatchObject({
      runId,
      rule: { id: 'approve-production-canary-above-5' },
      requestedBy: { id: 'user:operator' },
      preview: { now: 'v1 100%' },
    });
    await eventually('the run to park', async () =>
      (await api(`/v1/runs/${runId}`)).body.status === 'waiting_approval' ? true : undefined,
    );
    const posted = await eventually('the approval message', async () =>
      slack.callsTo('chat.postMessage').find((c) => JSON.stringify(c.params.blocks).includes(first.id)),
    );
    expect(posted.params.channel).toBe(CHANNEL);

    // serve (and its worker) restart while the approval waits.
    expect(await serve!.stop()).toBe(0);
    await startServe();
    expect((await api(`/v1/runs/${runId}`)).body.status).toBe('waiting_approval');

    // Forged and stale requests: 401, nothing changes.
    const forgedBody = click('U0ALICE', first);
    const stamp = String(Math.floor(Date.now() / 1000));
    expect(
      (
        await interact(forgedBody, {
          'content-type': FORM,
          'x-slack-request-timestamp': stamp,
          'x-slack-signature': slackSignature('not-the-secret-0123456789', stamp, forgedBody),
        })
      ).status,
    ).toBe(401);
    const staleBody = click('U0ALICE', first);
    expect((await interact(staleBody, signed(SECRET, Date.now() - 10 * 60_000, staleBody, FORM).headers)).status).toBe(
      401,
    );
    // The requester and someone without the role are told why, privately; nothing changes.
    expect((await interact(click('U0OPERATOR', first))).status).toBe(200);
    expect((await interact(click('U0MALLORY', first))).status).toBe(200);
    await eventually('both refusals to be explained', async () =>
      ephemeralsTo('U0OPERATOR').length && ephemeralsTo('U0MALLORY').length ? true : undefined,
    );
    expect(ephemeralsTo('U0OPERATOR')[0]!.params.text).toContain('self_approval');
    expect(ephemeralsTo('U0MALLORY')[0]!.params.text).toContain('not_authorised');
    expect((await approval(first.id)).status).toBe('pending');

    // An ML lead approves; the same click replayed is refused.
    const aliceClick = click('U0ALICE', first);
    const aliceHeaders = signed(SECRET, Date.now(), aliceClick, FORM).headers;
    expect((await interact(aliceClick, aliceHeaders)).status).toBe(200);
    expect((await interact(aliceClick, aliceHeaders)).status).toBe(409);

    // The canary runs once; the agent goes on and asks to promote, which needs two people.
    const second = await pendingApproval('deploy_canary', 100);
    expect((await approval(first.id)).outcome).toMatchObject({ status: 'executed' });
    expect(second).toMatchObject({
      runId,
      required: { roles: ['ml-leads', 'risk-officers'], count: 2, eachRole: true },
    });
    expect((await interact(click('U0ALICE', second))).status).toBe(200);
    await eventually("alice's vote", async () => ((await approval(second.id)).votes.length === 1 ? true : undefined));
    expect((await approval(second.id)).status).toBe('pending');
    expect((await interact(click('U0CAROL', second))).status).toBe(200);

    const done = await eventually(
      'the run to finish',
      async () => {
        const run = (await api(`/v1/runs/${runId}`)).body;
        return run.status === 'succeeded' || run.status === 'failed' ? run : undefined;
      },
      60_000,
    );
    expect(done).toMatchObject({ status: 'succeeded', answer: 'v2 now serves production.' });
    expect((await approval(second.id)).resolution).toBe('granted by user:alice and user:carol');

    // Each approval message was updated in place to show who decided and how it ended.
    for (const a of [first, second]) {
      const message = [...slack.messages.values()].find((m) => JSON.stringify(m.versions[0]!.blocks).includes(a.id));
      const latest = JSON.stringify(message?.versions.at(-1)?.blocks ?? []);
      expect(latest).toContain('user:alice');
      expect(latest).toMatch(/[Gg]ranted/);
    }

    await serve!.stop();
    const entries = await audit();
    expect(executions(entries).map((e) => (e.data as { callId: string }).callId)).toEqual(['call_1', 'call_2']);
    const refusals = entries.filter((e) => e.kind === 'approval.refused').map((e) => e.data.code);
    expect(refusals).toEqual(
      expect.arrayContaining(['forged', 'stale', 'self_approval', 'not_authorised', 'replayed']),
    );
    const verify = await runCli(['audit', 'verify'], { cwd: home, env: { MLOPS_AGENT_HOME: home } });
    expect(verify.code).toBe(0);
    expect(verify.stdout).toMatch(/audit log intact: \d+ entries/);
  });
});
