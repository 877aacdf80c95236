// The Streamable HTTP handler mounted on a bare node:http server on 127.0.0.1, with the
// real runtime and local lab behind it, driven by the SDK's own Client and by raw fetch.
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allTools } from '../../../tools/index.js';
import type { ApiToken } from '../../../src/api-tokens.js';
import type { Run } from '../../../src/agent/run.js';
import { createApprovalSweeper, type ApprovalSweeper } from '../../../src/approvals/index.js';
import { readAuditEntries } from '../../../src/audit/index.js';
import { openLocalLab, type LocalLab } from '../../../src/backends/local/index.js';
import { loadConfig } from '../../../src/app/config.js';
import { silentLogger } from '../../../src/logger.js';
import {
  createMcpHttpHandler,
  createMcpServer,
  type McpHttpHandler,
  type McpHttpOptions,
} from '../../../src/mcp/index.js';
import { defaultPolicyDir } from '../../../src/paths.js';
import { createRuntime, type Runtime } from '../../../src/app/runtime.js';
import { seededHome } from './seed-lab.js';

const TOKENS: ApiToken[] = [
  { token: 'token-alice-0123456789', principal: 'alice', scopes: ['mcp', 'read'] },
  { token: 'token-bob-9876543210', principal: 'bob', scopes: ['mcp', 'read'] },
  // MCP without `read`: its own approvals, nothing else.
  { token: 'token-erin-0123456789', principal: 'user:erin', scopes: ['mcp'] },
  { token: 'token-fred-0123456789', principal: 'user:fred', scopes: ['alerts', 'read'] },
];
const ALLOWED_ORIGIN = 'http://localhost:6274';

const INITIALIZE = {
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw-fetch', version: '1' } },
};

describe('MCP over Streamable HTTP', () => {
  let home: string;
  let lab: LocalLab;
  let runtime: Runtime;
  let handler: McpHttpHandler;
  let server: Server;
  let url: URL;
  let sweeper: ApprovalSweeper;
  const clients: Client[] = [];

  beforeAll(async () => {
    home = await seededHome('mcp-http-');
    const config = loadConfig({ env: { MLOPS_AGENT_HOME: home, MLOPS_AGENT_LOG_LEVEL: 'silent' }, cwd: home });
    config.policy.files = [
      new URL('../../fixtures/policies/approve-alias-history.yaml', import.meta.url).pathname,
      join(defaultPolicyDir, 'default.yaml'),
    ];
    lab = await openLocalLab({ config, logger: silentLogger });
    runtime = await createRuntime({ config, logger: silentLogger, backends: lab });
    // As in serve: a decided direct call is executed by the process that recorded the decision.
    sweeper = createApprovalSweeper({
      approvals: runtime.approvals,
      executeApproved: (id) => runtime.gate.executeApproved(id),
      logger: silentLogger,
    });
    ({ handler, server, url } = await mount({}));
  });

  afterAll(async () => {
    await sweeper?.stop();
    await Promise.allSettled(clients.map((c) => c.close()));
    await handler?.close();
    await new Promise((resolve) => server?.close(resolve));
    await runtime?.close();
    await lab?.close();
    await rm(home, { recursive: true, force: true });
  });

  async function mount(
    extra: Partial<Pick<McpHttpOptions, 'idleTimeoutMs' | 'sessionsPerPrincipal' | 'maxBodyBytes' | 'allowedHosts'>>,
  ): Promise<{ handler: McpHttpHandler; server: Server; url: URL }> {
    const h = createMcpHttpHandler({
      tokens: TOKENS,
      allowedOrigins: [ALLOWED_ORIGIN],
      createServer: (principal, caller) =>
        createMcpServer({
          gate: runtime.gate,
          tools: allTools,
          runs: runtime.runs,
          approvals: runtime.approvals,
          auditFile: runtime.config.auditFile,
          runbooks: runtime.runbooks,
          principalFor: () => principal,
          readsAll: caller.scopes.has('read'),
        }),
      ...extra,
    });
    const s = createServer((req, res) => void h(req, res));
    await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
    return { handler: h, server: s, url: new URL(`http://127.0.0.1:${(s.address() as AddressInfo).port}/mcp`) };
  }

  const post = (headers: Record<string, string>) =>
    fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
      body: JSON.stringify(INITIALIZE),
    });

  async function connect(
    token: string,
    name: string,
  ): Promise<{ client: Client; transport: StreamableHTTPClientTransport }> {
    const transport = new StreamableHTTPClientTransport(url, {
      requestInit: { headers: { authorization: `Bearer ${token}` } },
    });
    const client = new Client({ name, version: '1.0.0' });
    clients.push(client);
    await client.connect(transport);
    return { client, transport };
  }

  it('answers 401 without a bearer token, naming what is missing', async () => {
    const res = await post({});
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect(JSON.stringify(await res.json())).toMatch(/Authorization: Bearer/);
  });

  it('answers 401 to a wrong token', async () => {
    const res = await post({ authorization: 'Bearer token-alice-0123456788' });
    expect(res.status).toBe(401);
    expect(JSON.stringify(await res.json())).toMatch(/not valid/);
  });

  it('answers 403 to a disallowed Origin even with a good token, and serves an allowed one', async () => {
    const bad = await post({ authorization: 'Bearer token-alice-0123456789', origin: 'http://evil.example' });
    expect(bad.status).toBe(403);
    expect(JSON.stringify(await bad.json())).toMatch(/Origin http:\/\/evil\.example is not allowed/);
    const good = await post({ authorization: 'Bearer token-alice-0123456789', origin: ALLOWED_ORIGIN });
    expect(good.status).toBe(200);
    expect(good.headers.get('mcp-session-id')).toMatch(/^[0-9a-f-]{36}$/);
    await good.body?.cancel();
  });

  it('answers 400 to a body that is not JSON, or a first request that is not initialize', async () => {
    const headers = {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      authorization: 'Bearer token-alice-0123456789',
    };
    const notJson = await fetch(url, { method: 'POST', headers, body: '{"jsonrpc":' });
    expect(notJson.status).toBe(400);
    expect(JSON.stringify(await notJson.json())).toMatch(/not JSON/);
    const notInit = await fetch(url, {
      method: 'POST',
      headers,
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} }),
    });
    expect(notInit.status).toBe(400);
    expect(JSON.stringify(await notInit.json())).toMatch(/not an initialize request/);
  });

  it('serves two sessions at once, each acting as the principal of its own token', async () => {
    const [a, b] = await Promise.all([
      connect('token-alice-0123456789', 'client-a'),
      connect('token-bob-9876543210', 'client-b'),
    ]);
    expect(a.transport.sessionId).toBeDefined();
    expect(a.transport.sessionId).not.toBe(b.transport.sessionId);
    const [listA, listB] = await Promise.all([a.client.listTools(), b.client.listTools()]);
    expect(listA.tools.map((t) => t.name).sort()).toEqual([...allTools.map((t) => t.name), 'approval_status'].sort());
    expect(listB.tools).toEqual(listA.tools);

    const [ra, rb] = await Promise.all([
      a.client.callTool({ name: 'registry_query', arguments: { action: 'list_models' } }),
      b.client.callTool({ name: 'registry_query', arguments: { action: 'list_versions', model: 'credit-risk' } }),
    ]);
    expect(ra.structuredContent).toMatchObject({ models: [{ name: 'credit-risk' }] });
    expect(rb.structuredContent).toMatchObject({ versions: [{ version: '1' }] });
    const proposed = (await readAuditEntries(runtime.config.auditFile)).filter((e) => e.kind === 'call.proposed');
    expect(proposed.find((e) => (e.data.args as { action: string }).action === 'list_models')?.principal).toBe(
      'mcp:alice',
    );
    expect(proposed.find((e) => (e.data.args as { action: string }).action === 'list_versions')?.principal).toBe(
      'mcp:bob',
    );
  });

  it('parks a call that needs approval, and executes it exactly once when an ML lead approves', async () => {
    const { client } = await connect('token-alice-0123456789', 'client-approval');
    const args = { action: 'alias_history', model: 'credit-risk' };
    const pending = await client.callTool({ name: 'registry_query', arguments: args });
    expect(pending.isError).toBeFalsy();
    const { approvalId, approvedThrough } = (
      pending.structuredContent as { pendingApproval: { approvalId: string; approvedThrough: string } }
    ).pendingApproval;
    expect(approvalId).toMatch(/^apr_/);
    expect(approvedThrough).toContain(`HTTP (POST /v1/approvals/${approvalId}/decision)`);

    const before = await client.callTool({ name: 'approval_status', arguments: { approvalId } });
    expect(before.structuredContent).toMatchObject({
      status: 'pending',
      stillNeeded: '1 more approval(s) from [ml-leads]',
      outcome: null,
    });

    expect(
      await runtime.approvals.decide(approvalId, {
        approverId: 'user:bob',
        verdict: 'grant',
        comment: 'fine',
        via: 'http',
      }),
    ).toMatchObject({ ok: true, resolved: true });
    let status: { status: string; outcome: { status: string; output?: unknown } | null } | undefined;
    for (let i = 0; i < 200 && !status?.outcome; i++) {
      status = (await client.callTool({ name: 'approval_status', arguments: { approvalId } }))
        .structuredContent as typeof status;
      if (!status?.outcome) await new Promise((r) => setTimeout(r, 25));
    }
    expect(status).toMatchObject({ status: 'granted', outcome: { status: 'executed', output: { aliasHistory: [] } } });
    await sweeper.sweep();

    const entries = await readAuditEntries(runtime.config.auditFile);
    const callId = entries.find((e) => e.kind === 'approval.requested' && e.data.approvalId === approvalId)!.data
      .callId;
    expect(entries.filter((e) => e.data.callId === callId).map((e) => e.kind)).toEqual([
      'call.proposed',
      'policy.decision',
      'approval.requested',
      'approval.consumed',
      'policy.decision',
      'execution.started',
      'execution.finished',
    ]);
    expect(entries.find((e) => e.kind === 'approval.vote' && e.data.approvalId === approvalId)?.principal).toBe(
      'user:bob',
    );
  });

  it("reports a call naming a version that does not exist, and bad arguments, as tool errors (never as policy refusals) and audits both under the token's principal", async () => {
    const { client } = await connect('token-bob-9876543210', 'client-refusals');
    const before = (await readAuditEntries(runtime.config.auditFile)).length;
    const missing = await client.callTool({
      name: 'deploy_canary',
      arguments: { model: 'credit-risk', version: '99', environment: 'production', trafficPercent: 5 },
    });
    expect(missing).toMatchObject({
      isError: true,
      content: [{ text: 'deploy_canary: not found: model "credit-risk" has no version "99"' }],
    });
    const invalid = await client.callTool({
      name: 'deploy_canary',
      arguments: { model: 'credit-risk', version: '1', environment: 'moon', trafficPercent: 5 },
    });
    expect(invalid).toMatchObject({
      isError: true,
      content: [{ text: expect.stringMatching(/^invalid arguments for deploy_canary: environment: /) }],
    });
    const entries = (await readAuditEntries(runtime.config.auditFile)).slice(before);
    expect(
      entries
        .filter(
          (e) => e.principal === 'mcp:bob' && ['policy.decision', 'call.invalid', 'call.not_found'].includes(e.kind),
        )
        .map((e) => e.kind),
    ).toEqual(['call.not_found', 'call.invalid']);
    expect(entries.some((e) => e.kind === 'execution.started' && e.principal === 'mcp:bob')).toBe(false);
  });

  it('answers approval_status for an unknown or malformed id with a tool error', async () => {
    const { client } = await connect('token-bob-9876543210', 'client-status');
    const unknown = await client.callTool({ name: 'approval_status', arguments: { approvalId: 'apr_zzzz_00000000' } });
    expect(unknown).toMatchObject({ isError: true, content: [{ text: 'no approval apr_zzzz_00000000' }] });
    const malformed = await client.callTool({ name: 'approval_status', arguments: { approvalId: 42 } });
    expect(malformed).toMatchObject({
      isError: true,
      content: [{ text: expect.stringMatching(/^invalid arguments for approval_status: approvalId: /) }],
    });
  });

  it('refuses a session to a token other than the one that opened it', async () => {
    const { transport } = await connect('token-alice-0123456789', 'client-c');
    const res = await fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        authorization: 'Bearer token-bob-9876543210',
        'mcp-session-id': transport.sessionId!,
      },
      body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/list', params: {} }),
    });
    expect(res.status).toBe(403);
  });

  it('closes a session left idle', async () => {
    const idle = await mount({ idleTimeoutMs: 500 });
    try {
      const transport = new StreamableHTTPClientTransport(idle.url, {
        requestInit: { headers: { authorization: 'Bearer token-alice-0123456789' } },
      });
      const client = new Client({ name: 'client-idle', version: '1.0.0' });
      clients.push(client);
      await client.connect(transport);
      await client.listTools();
      expect(idle.handler.sessionCount()).toBe(1);
      await new Promise((resolve) => setTimeout(resolve, 1500));
      expect(idle.handler.sessionCount()).toBe(0);
      const res = await fetch(idle.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          authorization: 'Bearer token-alice-0123456789',
          'mcp-session-id': transport.sessionId!,
        },
        body: JSON.stringify({ jsonrpc: '2.0', id: 4, method: 'tools/list', params: {} }),
      });
      expect(res.status).toBe(404);
    } finally {
      await idle.handler.close();
      await new Promise((resolve) => idle.server.close(resolve));
    }
  });

  it('forgets a session its client ends', async () => {
    const { transport } = await connect('token-bob-9876543210', 'client-d');
    const id = transport.sessionId!;
    const before = handler.sessionCount();
    await transport.terminateSession();
    expect(handler.sessionCount()).toBe(before - 1);
    const res = await fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        authorization: 'Bearer token-bob-9876543210',
        'mcp-session-id': id,
      },
      body: JSON.stringify({ jsonrpc: '2.0', id: 3, method: 'tools/list', params: {} }),
    });
    expect(res.status).toBe(404);
  });
  /** A raw request, so the Host header is exactly what a rebinding page's browser would send. */
  function rawPost(
    target: URL,
    headers: Record<string, string>,
    body: string,
  ): Promise<{ status: number; body: string; headers: Record<string, string | string[] | undefined> }> {
    return new Promise((resolve, reject) => {
      const req = httpRequest(
        target,
        {
          method: 'POST',
          headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
        },
        (res) => {
          let text = '';
          res.on('data', (d: Buffer) => (text += d.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text, headers: res.headers }));
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  }

  it('answers 403 to a Host that is not loopback or configured (DNS rebinding), and serves a configured one', async () => {
    const auth = { authorization: 'Bearer token-alice-0123456789' };
    const rebound = await rawPost(url, { ...auth, host: `evil.example:${url.port}` }, JSON.stringify(INITIALIZE));
    expect(rebound.status).toBe(403);
    expect(rebound.body).toContain(
      `Host evil.example:${url.port} is not allowed to call this MCP endpoint; add it to server.mcp.allowedHosts`,
    );
    for (const host of [`localhost:${url.port}`, `LOCALHOST:${url.port}`, `[::1]:${url.port}`]) {
      const ok = await rawPost(url, { ...auth, host }, JSON.stringify(INITIALIZE));
      expect(ok.status, host).toBe(200);
    }
    expect((await rawPost(url, { ...auth, host: 'localhost/evil' }, JSON.stringify(INITIALIZE))).status).toBe(403);

    const named = await mount({ allowedHosts: ['mlops-agent.internal'] });
    try {
      expect(
        (await rawPost(named.url, { ...auth, host: 'mlops-agent.internal:8080' }, JSON.stringify(INITIALIZE))).status,
      ).toBe(200);
      expect((await rawPost(named.url, { ...auth, host: 'other.internal' }, JSON.stringify(INITIALIZE))).status).toBe(
        403,
      );
    } finally {
      await named.handler.close();
      await new Promise((resolve) => named.server.close(resolve));
    }
  });

  it('needs the mcp scope, and names it', async () => {
    const res = await post({ authorization: 'Bearer token-fred-0123456789' });
    expect(res.status).toBe(403);
    expect(JSON.stringify(await res.json())).toContain('the token of user:fred lacks the \\"mcp\\" scope');
  });

  it('limits the sessions one principal holds, so one token cannot lock everyone else out', async () => {
    const limited = await mount({ sessionsPerPrincipal: 2 });
    const open = async (token: string) =>
      rawPost(limited.url, { authorization: `Bearer ${token}` }, JSON.stringify(INITIALIZE));
    try {
      const first = await open('token-alice-0123456789');
      expect((await open('token-alice-0123456789')).status).toBe(200);
      const third = await open('token-alice-0123456789');
      expect(third.status).toBe(429);
      expect(third.body).toContain('alice already holds 2 open MCP sessions (server.mcp.sessionsPerPrincipal)');
      expect(third.headers['retry-after']).toBe('300');
      expect((await open('token-bob-9876543210')).status).toBe(200);
      // Closing one frees a place.
      const closed = await new Promise<number>((resolve, reject) => {
        const req = httpRequest(
          limited.url,
          {
            method: 'DELETE',
            headers: {
              authorization: 'Bearer token-alice-0123456789',
              'mcp-session-id': String(first.headers['mcp-session-id']),
            },
          },
          (res) => {
            res.resume();
            res.on('end', () => resolve(res.statusCode ?? 0));
          },
        );
        req.on('error', reject);
        req.end();
      });
      expect(closed).toBe(200);
      expect((await open('token-alice-0123456789')).status).toBe(200);
    } finally {
      await limited.handler.close();
      await new Promise((resolve) => limited.server.close(resolve));
    }
  });

  it('refuses a body over its limit with 413', async () => {
    const small = await mount({ maxBodyBytes: 1024 });
    try {
      const big = {
        ...INITIALIZE,
        params: { ...INITIALIZE.params, clientInfo: { name: 'x'.repeat(2048), version: '1' } },
      };
      const res = await rawPost(small.url, { authorization: 'Bearer token-alice-0123456789' }, JSON.stringify(big));
      expect(res.status).toBe(413);
      expect(res.body).toContain('request body over 1024 bytes');
    } finally {
      await small.handler.close();
      await new Promise((resolve) => small.server.close(resolve));
    }
  });

  it("shows a caller without the read scope its own approvals only, and neither the audit log nor others' runs", async () => {
    const erin = await connect('token-erin-0123456789', 'client-erin');
    const { client: alice } = await connect('token-alice-0123456789', 'client-alice-reads');
    const args = { action: 'alias_history', model: 'credit-risk' };
    const mine = (
      (await erin.client.callTool({ name: 'registry_query', arguments: args })).structuredContent as {
        pendingApproval: { approvalId: string };
      }
    ).pendingApproval.approvalId;
    const hers = (
      (await alice.callTool({ name: 'registry_query', arguments: args })).structuredContent as {
        pendingApproval: { approvalId: string };
      }
    ).pendingApproval.approvalId;

    expect(
      (await erin.client.callTool({ name: 'approval_status', arguments: { approvalId: mine } })).structuredContent,
    ).toMatchObject({ status: 'pending' });
    expect(await erin.client.callTool({ name: 'approval_status', arguments: { approvalId: hers } })).toMatchObject({
      isError: true,
      content: [{ text: `no approval ${hers}` }],
    });
    expect(
      (await alice.callTool({ name: 'approval_status', arguments: { approvalId: mine } })).structuredContent,
    ).toMatchObject({ status: 'pending' });

    await expect(erin.client.readResource({ uri: 'mlops://audit/tail' })).rejects.toThrow(
      /the audit log needs a token with the "read" scope/,
    );
    expect((await alice.readResource({ uri: 'mlops://audit/tail' })).contents).toHaveLength(1);
    const stored = (id: string, principal: Run['trigger']['principal']): Run => ({
      schemaVersion: 1,
      id,
      trigger: { kind: 'alert', principal, text: 'drift', data: null },
      status: 'succeeded',
      planner: 'runbook:drift-retrain',
      fallback: null,
      transcript: [],
      steps: 0,
      usage: { input: 0, output: 0 },
      answer: 'done',
      error: null,
      createdAt: '2026-11-01T00:00:00.000Z',
      updatedAt: '2026-11-01T00:00:00.000Z',
      endedAt: '2026-11-01T00:00:00.000Z',
    });
    await runtime.runs.save(stored('run_mcpreads_00000001', { id: 'agent:alerts', roles: [], requester: 'user:erin' }));
    await runtime.runs.save(
      stored('run_mcpreads_00000002', { id: 'agent:alerts', roles: [], requester: 'user:alice' }),
    );
    expect(
      JSON.parse(
        (
          (await erin.client.readResource({ uri: 'mlops://runs/run_mcpreads_00000001' })).contents[0] as {
            text: string;
          }
        ).text,
      ),
    ).toMatchObject({ id: 'run_mcpreads_00000001' });
    await expect(erin.client.readResource({ uri: 'mlops://runs/run_mcpreads_00000002' })).rejects.toThrow(
      'no run with id run_mcpreads_00000002',
    );
    expect((await alice.readResource({ uri: 'mlops://runs/run_mcpreads_00000002' })).contents).toHaveLength(1);
  });
});
