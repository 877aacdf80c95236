// The serve HTTP server with the real runtime, the local lab (no model registered) and
// the in-process queue and worker, driven by Fastify's inject and once over a real socket.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allTools } from '../../../tools/index.js';
import { openLocalLab, type LocalLab } from '../../../src/backends/local/index.js';
import { loadConfig } from '../../../src/app/config.js';
import { agentRunHandler, createLocalRunQueue, type RunQueue } from '../../../src/intake/index.js';
import { silentLogger } from '../../../src/logger.js';
import { createMcpHttpHandler, createMcpServer, type McpHttpHandler } from '../../../src/mcp/index.js';
import { createRuntime, type Runtime } from '../../../src/app/runtime.js';
import { createServer, createServerMetrics } from '../../../src/server/index.js';
import { eventually } from '../../support/eventually.js';

const TOKEN = 'operator-token-0123456789abcdef';
const AUTH = { authorization: `Bearer ${TOKEN}` };

function alertmanagerPayload(groupKey: string) {
  const labels = {
    alertname: 'ModelDriftDetected',
    model: 'credit-risk',
    dataset: 'credit-recent',
    environment: 'production',
    severity: 'warning',
  };
  const annotations = { summary: 'Input drift on credit_utilization (PSI 0.41)' };
  return {
    version: '4',
    groupKey,
    truncatedAlerts: 0,
    status: 'firing',
    receiver: 'mlops-agent',
    groupLabels: { alertname: 'ModelDriftDetected' },
    commonLabels: labels,
    commonAnnotations: annotations,
    externalURL: 'http://alertmanager.example:9093',
    alerts: [
      {
        status: 'firing',
        labels,
        annotations,
        startsAt: '2026-11-23T16:00:00.000Z',
        endsAt: '0001-01-01T00:00:00Z',
        generatorURL: 'http://prometheus.example:9090/graph?g0.expr=psi',
        fingerprint: 'a1b2c3d4e5f60718',
      },
    ],
  };
}

describe('mlops-agent serve: the HTTP server', () => {
  let home: string;
  let lab: LocalLab;
  let runtime: Runtime;
  let queue: RunQueue;
  let mcp: McpHttpHandler;
  let app: FastifyInstance;

  beforeAll(async () => {
    home = await mkdtemp(join(tmpdir(), 'mlops-serve-'));
    const config = loadConfig({
      env: {
        MLOPS_AGENT_HOME: home,
        MLOPS_AGENT_LOG_LEVEL: 'silent',
        MLOPS_AGENT_LLM: 'runbook',
        MLOPS_AGENT_API_TOKEN: TOKEN,
      },
      cwd: home,
    });
    lab = await openLocalLab({ config, logger: silentLogger });
    runtime = await createRuntime({ config, logger: silentLogger, backends: lab });
    queue = createLocalRunQueue({ attempts: 1 });
    const metrics = createServerMetrics(queue);
    queue.process(agentRunHandler(runtime.agent, runtime.runs, { onSettled: (run) => metrics.settled(run) }), {
      concurrency: 2,
    });
    mcp = createMcpHttpHandler({
      tokens: config.server.tokens,
      createServer: (principal, caller) =>
        createMcpServer({
          gate: runtime.gate,
          tools: allTools,
          runs: runtime.runs,
          auditFile: config.auditFile,
          runbooks: runtime.runbooks,
          principalFor: () => principal,
          readsAll: caller.scopes.has('read'),
          logger: silentLogger,
        }),
      logger: silentLogger,
    });
    app = await createServer({
      runtime,
      queue,
      runs: runtime.runs,
      tokens: config.server.tokens,
      logger: silentLogger,
      bodyLimitBytes: 64 * 1024,
      metrics,
      mcp,
    });
    await app.ready();
  });

  afterAll(async () => {
    await app?.close();
    await mcp?.close();
    await queue?.close();
    await runtime?.close();
    await lab?.close();
    await rm(home, { recursive: true, force: true });
  });

  it('coalesces a repeated Alertmanager group into one run, and the run is visible as it truly ended', async () => {
    const payload = alertmanagerPayload('{}/{severity="warning"}:{alertname="ModelDriftDetected"}');
    const first = await app.inject({ method: 'POST', url: '/v1/alerts/alertmanager', headers: AUTH, payload });
    expect(first.statusCode).toBe(202);
    const { runId, coalesced } = first.json() as { runId: string; coalesced: boolean };
    expect(coalesced).toBe(false);
    const second = await app.inject({ method: 'POST', url: '/v1/alerts/alertmanager', headers: AUTH, payload });
    expect(second.statusCode).toBe(202);
    // The same alert again: handled by the run, which is still under way, so it joins it.
    expect(second.json()).toMatchObject({ runId, coalesced: true, incident: 'joined' });

    // The lab has no data set and no model: the runbook's first step (check) fails, and
    // the run ends there instead of retraining on nothing.
    const run = await eventually('the run to end', async () => {
      const res = await app.inject({ method: 'GET', url: `/v1/runs/${runId}`, headers: AUTH });
      const body = res.json() as { status: string };
      return res.statusCode === 200 && body.status !== 'queued' && body.status !== 'running'
        ? (res.json() as Record<string, unknown>)
        : undefined;
    });
    expect(run).toMatchObject({
      id: runId,
      planner: 'runbook:drift-retrain',
      trigger: { kind: 'alert', principal: 'agent:alertmanager' },
    });
    const transcript = run.transcript as Array<{ type: string; call?: { name: string } }>;
    expect(JSON.stringify(transcript)).toContain('check_data_quality');
    expect(JSON.stringify(transcript)).not.toContain('"trigger_retrain"');

    const list = await app.inject({ method: 'GET', url: `/v1/runs?status=${String(run.status)}`, headers: AUTH });
    expect((list.json() as { runs: Array<{ id: string }> }).runs.map((r) => r.id)).toContain(runId);
    const metrics = await app.inject({ method: 'GET', url: '/metrics', headers: AUTH });
    expect(metrics.body).toMatch(/mlops_agent_runs_enqueued_total\{trigger="alert",coalesced="false"\} 1/);
    expect(metrics.body).toMatch(/mlops_agent_runs_enqueued_total\{trigger="alert",coalesced="true"\} 1/);
    expect(metrics.body).toContain('mlops_agent_webhook_duration_seconds_bucket');
    // The worker counts the run once agent.start returns, a moment after the run is stored.
    const settled = new RegExp(`mlops_agent_runs_settled_total\\{trigger="alert",outcome="${String(run.status)}"\\} 1`);
    await eventually('the settled run to be counted', async () => {
      const body = (await app.inject({ method: 'GET', url: '/metrics', headers: AUTH })).body;
      return settled.test(body) ? body : undefined;
    });
  });

  it('refuses requests without a token or with a wrong one, but not /healthz', async () => {
    const none = await app.inject({ method: 'GET', url: '/v1/runs' });
    expect(none.statusCode).toBe(401);
    expect(none.json()).toMatchObject({ message: 'an Authorization: Bearer <token> header is required' });
    const wrong = await app.inject({
      method: 'POST',
      url: '/v1/alerts/alertmanager',
      headers: { authorization: 'Bearer not-the-token' },
      payload: alertmanagerPayload('g'),
    });
    expect(wrong.statusCode).toBe(401);
    expect(wrong.json()).toMatchObject({ message: 'the bearer token is not valid' });
    expect((await app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    expect((await app.inject({ method: 'POST', url: '/mcp', payload: {} })).statusCode).toBe(401);
  });

  it('answers 400 naming the field for a malformed payload, and never crashes on garbage', async () => {
    // Only what identifies an alert is required: its labels and startsAt.
    const { startsAt: _drop, ...noStart } = alertmanagerPayload('g').alerts[0]!;
    const missing = await app.inject({
      method: 'POST',
      url: '/v1/alerts/alertmanager',
      headers: AUTH,
      payload: { ...alertmanagerPayload('g'), alerts: [noStart] },
    });
    expect(missing.statusCode).toBe(400);
    expect(missing.json()).toMatchObject({ error: 'input_invalid' });
    expect((missing.json() as { message: string }).message).toContain('alerts.0.startsAt: Required');

    const badVersion = await app.inject({
      method: 'POST',
      url: '/v1/alerts/alertmanager',
      headers: AUTH,
      payload: { ...alertmanagerPayload('g'), version: '3' },
    });
    expect(badVersion.statusCode).toBe(400);
    expect((badVersion.json() as { message: string }).message).toContain('version');

    const garbage = await app.inject({
      method: 'POST',
      url: '/v1/alerts/alertmanager',
      headers: { ...AUTH, 'content-type': 'application/json' },
      payload: '{"version": "4", ',
    });
    expect(garbage.statusCode).toBe(400);
    const text = await app.inject({
      method: 'POST',
      url: '/v1/alerts/alertmanager',
      headers: { ...AUTH, 'content-type': 'text/plain' },
      payload: 'hello',
    });
    // Fastify reads text/plain as a string, which is not an Alertmanager payload.
    expect(text.statusCode).toBe(400);
    expect((text.json() as { message: string }).message).toContain('(body)');
    const xml = await app.inject({
      method: 'POST',
      url: '/v1/alerts/alertmanager',
      headers: { ...AUTH, 'content-type': 'application/xml' },
      payload: '<alert/>',
    });
    expect(xml.statusCode).toBe(415);
    const empty = await app.inject({ method: 'POST', url: '/v1/chat', headers: AUTH, payload: { text: '  ' } });
    expect(empty.statusCode).toBe(400);
    expect((empty.json() as { message: string }).message).toContain('text');
    const badId = await app.inject({ method: 'GET', url: '/v1/runs/..%2Fetc', headers: AUTH });
    expect(badId.statusCode).toBe(400);
    expect((await app.inject({ method: 'GET', url: '/v1/runs/run_unknown_0000', headers: AUTH })).statusCode).toBe(404);
    expect((await app.inject({ method: 'GET', url: '/v1/runs?status=sleeping', headers: AUTH })).statusCode).toBe(400);
    expect((await app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
  });

  it('answers 413 for a body over the limit', async () => {
    const huge = { ...alertmanagerPayload('g'), commonAnnotations: { description: 'x'.repeat(128 * 1024) } };
    const res = await app.inject({ method: 'POST', url: '/v1/alerts/alertmanager', headers: AUTH, payload: huge });
    expect(res.statusCode).toBe(413);
    expect((await app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
  });

  it("starts a chat run as the token's principal", async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/v1/chat',
      headers: AUTH,
      payload: { text: 'which version of credit-risk is champion?' },
    });
    expect(res.statusCode).toBe(202);
    const { runId } = res.json() as { runId: string };
    // No LLM is configured, so nothing can plan the chat run: it ends at once needing a person, saying why.
    const run = await eventually('the chat run to end', async () => {
      const r = (await app.inject({ method: 'GET', url: `/v1/runs/${runId}`, headers: AUTH })).json() as {
        status: string;
      };
      return r.status !== 'queued' && r.status !== 'running' ? (r as Record<string, unknown>) : undefined;
    });
    expect(run).toMatchObject({
      status: 'needs_attention',
      trigger: { kind: 'chat', principal: 'user:operator' },
      summary: 'Changed nothing.',
    });
    expect(String(run.error)).toContain('needs an LLM');
  });

  it('reports liveness, readiness and metrics', async () => {
    expect((await app.inject({ method: 'GET', url: '/healthz' })).json()).toEqual({ status: 'ok' });
    const ready = await app.inject({ method: 'GET', url: '/readyz', headers: AUTH });
    expect(ready.statusCode).toBe(200);
    expect(ready.json()).toEqual({ status: 'ready' });
    const metrics = await app.inject({ method: 'GET', url: '/metrics', headers: AUTH });
    expect(metrics.statusCode).toBe(200);
    expect(metrics.headers['content-type']).toContain('text/plain');
    expect(metrics.body).toContain('# TYPE mlops_agent_queue_depth gauge');
  });

  it('serves over a real socket on 127.0.0.1, MCP included', async () => {
    const address = await app.listen({ port: 0, host: '127.0.0.1' });
    const health = await fetch(`${address}/healthz`);
    expect(health.status).toBe(200);
    const unauth = await fetch(`${address}/v1/runs`);
    expect(unauth.status).toBe(401);
    const init = await fetch(`${address}/mcp`, {
      method: 'POST',
      headers: { ...AUTH, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'initialize',
        params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'fetch', version: '1' } },
      }),
    });
    expect(init.status).toBe(200);
    expect(init.headers.get('mcp-session-id')).toBeTruthy();
    expect(await init.text()).toContain('mlops');
  });
});
