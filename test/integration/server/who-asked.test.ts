// Who asked, and what each token may do: an alert run acts as the alert's principal on
// behalf of the token that posted it, so that token's principal can never approve what
// the run asks for (by any route); tokens carry scopes; a principal without `read` sees
// only its own runs and approvals. The real runtime over files, the in-process queue and
// worker, memory backends and the shipped policy (alice and bob ML leads, carol a risk officer).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SCOPES, type ApiToken } from '../../../src/api-tokens.js';
import { createApprovalSweeper, type Approval, type ApprovalSweeper } from '../../../src/approvals/index.js';
import { readAuditEntries } from '../../../src/audit/index.js';
import { loadConfig } from '../../../src/app/config.js';
import { agentRunHandler, createLocalRunQueue, type RunQueue } from '../../../src/intake/index.js';
import { silentLogger } from '../../../src/logger.js';
import { createRuntime, type Runtime } from '../../../src/app/runtime.js';
import { createServer } from '../../../src/server/index.js';
import { memoryBackends } from '../../support/memory-backends.js';
import { eventually } from '../../support/eventually.js';

const TOKENS: ApiToken[] = [
  // An ML lead who also wires up monitors: the two-person rule must hold against her.
  { token: 'alice-token-0123456789abcdef', principal: 'user:alice', scopes: [...SCOPES] },
  { token: 'bob-token-0123456789abcdef', principal: 'user:bob', scopes: ['read', 'approve'] },
  { token: 'carol-token-0123456789abcdef', principal: 'user:carol', scopes: ['read', 'approve'] },
  // A monitor: it may post alerts and nothing else.
  { token: 'monitor-token-0123456789abcdef', principal: 'svc:grafana', scopes: ['alerts'] },
  { token: 'chatter-token-0123456789abcdef', principal: 'user:dave', scopes: ['chat'] },
];
type Who = 'alice' | 'bob' | 'carol' | 'monitor' | 'chatter';
const as = (who: Who) => ({ authorization: `Bearer ${TOKENS.find((t) => t.token.startsWith(who))!.token}` });

const labels = { model: 'credit-risk', dataset: 'credit-recent', environment: 'production' };

function alertmanagerGroup(groupKey: string) {
  const all = { alertname: 'ModelDriftDetected', ...labels };
  return {
    version: '4',
    groupKey,
    truncatedAlerts: 0,
    status: 'firing',
    receiver: 'mlops-agent',
    groupLabels: { alertname: 'ModelDriftDetected' },
    commonLabels: all,
    commonAnnotations: {},
    externalURL: 'http://alertmanager:9093',
    alerts: [
      {
        status: 'firing',
        labels: all,
        annotations: { summary: 'drift' },
        startsAt: '2026-11-23T16:00:00Z',
        endsAt: '0001-01-01T00:00:00Z',
        generatorURL: 'http://prom',
        fingerprint: 'f1',
      },
    ],
  };
}

describe('who asked, and what a token may do', () => {
  let home: string;
  let runtime: Runtime;
  let queue: RunQueue;
  let sweeper: ApprovalSweeper;
  let app: FastifyInstance;

  beforeAll(async () => {
    home = await mkdtemp(join(tmpdir(), 'mlops-who-asked-'));
    const config = loadConfig({ env: { MLOPS_AGENT_HOME: home, MLOPS_AGENT_LLM: 'runbook' }, cwd: home });
    config.server.tokens = TOKENS.map((t) => ({ ...t, scopes: [...t.scopes] }));
    runtime = await createRuntime({ config, logger: silentLogger, backends: memoryBackends() });
    queue = createLocalRunQueue({ attempts: 1 });
    queue.process(agentRunHandler(runtime.agent, runtime.runs), { concurrency: 2 });
    sweeper = createApprovalSweeper({
      approvals: runtime.approvals,
      executeApproved: (id) => runtime.gate.executeApproved(id),
      runs: { resume: (id) => queue.resume(id), waiting: () => runtime.runs.list({ status: 'waiting_approval' }) },
      logger: silentLogger,
    });
    app = await createServer({
      runtime,
      queue,
      runs: runtime.runs,
      approvals: runtime.approvals,
      tokens: TOKENS,
      logger: silentLogger,
    });
    await app.ready();
  });

  afterAll(async () => {
    await app?.close();
    await sweeper?.stop();
    await queue?.close();
    await runtime?.close();
    await rm(home, { recursive: true, force: true });
  });

  async function promotionOf(runId: string): Promise<Approval> {
    const approval = await eventually('the promotion to wait for approval', async () =>
      (await runtime.approvals.list({ runId })).find((a) => a.status === 'pending'),
    );
    await eventually('the run to park', async () =>
      (await runtime.runs.get(runId))?.status === 'waiting_approval' ? true : undefined,
    );
    return approval;
  }

  const decide = (who: Who, approvalId: string, payload: Record<string, unknown>) =>
    app.inject({ method: 'POST', url: `/v1/approvals/${approvalId}/decision`, headers: as(who), payload });

  it('refuses the poster of a generic alert as approver of what its run asks for, and shows who triggered the run', async () => {
    const posted = await app.inject({
      method: 'POST',
      url: '/v1/alerts',
      headers: as('alice'),
      payload: { name: 'ModelDriftDetected', labels, dedupeKey: 'who-asked-generic' },
    });
    expect(posted.statusCode).toBe(202);
    const { runId } = posted.json() as { runId: string };
    const approval = await promotionOf(runId);
    expect(approval.requestedBy).toEqual({ id: 'agent:alerts', roles: [], requester: 'user:alice' });

    const self = await decide('alice', approval.id, { verdict: 'grant' });
    expect(self.statusCode).toBe(403);
    expect(self.json()).toMatchObject({
      error: 'self_approval',
      message: expect.stringContaining('user:alice triggered the run that asked for this call (as agent:alerts)'),
    });
    // Nor can she end it alone by a denial: a denial is a decision too.
    expect((await decide('alice', approval.id, { verdict: 'deny', comment: 'mine' })).json().error).toBe(
      'self_approval',
    );
    expect((await runtime.approvals.get(approval.id))?.votes).toEqual([]);

    const shown = (
      await app.inject({ method: 'GET', url: `/v1/approvals/${approval.id}`, headers: as('bob') })
    ).json() as Approval;
    expect(shown.requestedBy.requester).toBe('user:alice');
    const run = (await app.inject({ method: 'GET', url: `/v1/runs/${runId}`, headers: as('bob') })).json() as {
      trigger: { principal: string; requester: string };
    };
    expect(run.trigger).toMatchObject({ principal: 'agent:alerts', requester: 'user:alice' });

    // Two other people complete it: an ML lead and the risk officer.
    expect((await decide('bob', approval.id, { verdict: 'grant' })).json()).toMatchObject({ resolved: false });
    expect((await decide('carol', approval.id, { verdict: 'grant' })).json()).toMatchObject({
      resolved: true,
      approval: { status: 'granted' },
    });
    const refused = (await readAuditEntries(runtime.config.auditFile)).filter(
      (e) => e.kind === 'approval.refused' && e.data.approvalId === approval.id,
    );
    expect(refused.map((e) => [e.principal, e.data.code])).toEqual([
      ['user:alice', 'self_approval'],
      ['user:alice', 'self_approval'],
    ]);
  });

  it('records the poster of an Alertmanager group as the requester too', async () => {
    const posted = await app.inject({
      method: 'POST',
      url: '/v1/alerts/alertmanager',
      headers: as('alice'),
      payload: alertmanagerGroup('{}:{alertname="ModelDriftDetected",who="am"}'),
    });
    expect(posted.statusCode).toBe(202);
    const approval = await promotionOf((posted.json() as { runId: string }).runId);
    expect(approval.requestedBy).toEqual({ id: 'agent:alertmanager', roles: [], requester: 'user:alice' });
    expect((await decide('alice', approval.id, { verdict: 'grant' })).json().error).toBe('self_approval');
    // The approvals service refuses her whatever the channel (Slack, the CLI and HTTP all come here).
    const slack = await runtime.approvals.decide(approval.id, {
      approverId: 'user:alice',
      verdict: 'grant',
      comment: null,
      via: 'slack',
    });
    expect(slack).toMatchObject({ ok: false, code: 'self_approval' });
    expect(
      await runtime.approvals.wouldTake(approval.id, { approverId: 'user:alice', verdict: 'deny', via: 'slack' }),
    ).toMatchObject({ ok: false, code: 'self_approval' });
  });

  it('answers 403 naming the missing scope, for posting, chatting, deciding and metrics', async () => {
    const chat = await app.inject({
      method: 'POST',
      url: '/v1/chat',
      headers: as('monitor'),
      payload: { text: 'what is serving?' },
    });
    expect(chat.statusCode).toBe(403);
    expect(chat.json()).toMatchObject({
      error: 'missing_scope',
      scope: 'chat',
      message: expect.stringContaining('svc:grafana lacks the "chat" scope'),
    });

    // A resolved notice can end a run: it needs `alerts` like a firing one.
    const resolved = await app.inject({
      method: 'POST',
      url: '/v1/alerts',
      headers: as('chatter'),
      payload: { name: 'ModelDriftDetected', status: 'resolved', labels },
    });
    expect(resolved.statusCode).toBe(403);
    expect(resolved.json()).toMatchObject({ scope: 'alerts' });
    const am = await app.inject({
      method: 'POST',
      url: '/v1/alerts/alertmanager',
      headers: as('bob'),
      payload: alertmanagerGroup('{}:{x="1"}'),
    });
    expect(am.json()).toMatchObject({ error: 'missing_scope', scope: 'alerts' });

    const decision = await decide('monitor', 'apr_zzzz_00000000', { verdict: 'grant' });
    expect(decision.json()).toMatchObject({ error: 'missing_scope', scope: 'approve' });
    expect((await app.inject({ method: 'GET', url: '/metrics', headers: as('monitor') })).json()).toMatchObject({
      scope: 'read',
    });
    expect((await app.inject({ method: 'GET', url: '/metrics', headers: as('bob') })).statusCode).toBe(200);
  });

  it('shows a principal without read only its own runs and approvals', async () => {
    const posted = await app.inject({
      method: 'POST',
      url: '/v1/alerts',
      headers: as('monitor'),
      payload: { name: 'ModelDriftDetected', labels, dedupeKey: 'who-asked-monitor' },
    });
    const { runId } = posted.json() as { runId: string };
    const approval = await promotionOf(runId);
    const others = (await runtime.runs.list()).filter((r) => r.id !== runId);
    expect(others.length).toBeGreaterThan(0);

    const runs = (await app.inject({ method: 'GET', url: '/v1/runs', headers: as('monitor') })).json() as {
      runs: { id: string }[];
    };
    expect(runs.runs.map((r) => r.id)).toEqual([runId]);
    expect((await app.inject({ method: 'GET', url: `/v1/runs/${runId}`, headers: as('monitor') })).statusCode).toBe(
      200,
    );
    const other = await app.inject({ method: 'GET', url: `/v1/runs/${others[0]!.id}`, headers: as('monitor') });
    expect(other.statusCode).toBe(404);
    expect(other.json().message).toBe(`no run ${others[0]!.id}`);

    const approvals = (
      await app.inject({ method: 'GET', url: '/v1/approvals?status=pending', headers: as('monitor') })
    ).json() as { approvals: { id: string }[] };
    expect(approvals.approvals.map((a) => a.id)).toEqual([approval.id]);
    const mine = (
      await app.inject({ method: 'GET', url: '/v1/approvals?status=pending', headers: as('chatter') })
    ).json() as { approvals: unknown[] };
    expect(mine.approvals).toEqual([]);
    expect(
      (await app.inject({ method: 'GET', url: `/v1/approvals/${approval.id}`, headers: as('chatter') })).statusCode,
    ).toBe(404);
    // With `read`, everything.
    const all = (await app.inject({ method: 'GET', url: '/v1/runs', headers: as('bob') })).json() as {
      runs: unknown[];
    };
    expect(all.runs.length).toBe(others.length + 1);
  });

  it('refuses a body with a __proto__ or constructor.prototype key with 400, before any route sees it', async () => {
    const before = runtime.audit.lastSeq();
    for (const payload of [
      '{"name":"ModelDriftDetected","__proto__":{"status":"resolved"}}',
      '{"name":"ModelDriftDetected","constructor":{"prototype":{"status":"resolved"}}}',
    ]) {
      const res = await app.inject({
        method: 'POST',
        url: '/v1/alerts',
        headers: { ...as('alice'), 'content-type': 'application/json' },
        payload,
      });
      expect(res.statusCode, payload).toBe(400);
    }
    expect(runtime.audit.lastSeq()).toBe(before);
  });

  it('answers 404 without a token at the OAuth discovery paths, so OAuth-aware MCP clients fall back to their bearer token', async () => {
    for (const url of [
      '/.well-known/oauth-protected-resource',
      '/.well-known/oauth-protected-resource/mcp',
      '/.well-known/oauth-authorization-server',
    ]) {
      const res = await app.inject({ method: 'GET', url });
      expect(res.statusCode, url).toBe(404);
      expect(res.headers['www-authenticate'], url).toBeUndefined();
    }
    // Anything else still needs a token.
    expect((await app.inject({ method: 'GET', url: '/v1/nope' })).statusCode).toBe(401);
  });
});
