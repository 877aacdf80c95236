// The Streamable HTTP handler mounted on a bare node:http server on 127.0.0.1, with the
// real runtime and local lab behind it, driven by the SDK's own Client and by raw fetch.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allTools } from '../../../tools/index.js';
import { createApprovalSweeper, type ApprovalSweeper } from '../../../src/approvals/index.js';
import { readAuditEntries } from '../../../src/audit/index.js';
import { openLocalLab, type LocalLab } from '../../../src/backends/local/index.js';
import { loadConfig } from '../../../src/config.js';
import { silentLogger } from '../../../src/logger.js';
import { createMcpHttpHandler, createMcpServer, type McpHttpHandler } from '../../../src/mcp/index.js';
import { defaultPolicyDir } from '../../../src/paths.js';
import { createRuntime, type Runtime } from '../../../src/runtime.js';
import { seededHome } from './seed-lab.js';

const TOKENS = { 'token-alice-0123456789': 'alice', 'token-bob-9876543210': 'bob' };
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
    config.policy.files = [new URL('../../fixtures/policies/approve-alias-history.yaml', import.meta.url).pathname, join(defaultPolicyDir, 'default.yaml')];
    lab = await openLocalLab({ config, logger: silentLogger });
    runtime = await createRuntime({ config, logger: silentLogger, backends: lab });
    // As in serve: a decided direct call is executed by the process that recorded the decision.
    sweeper = createApprovalSweeper({ approvals: runtime.approvals, executeApproved: (id) => runtime.gate.executeApproved(id), logger: silentLogger });
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

  async function mount(extra: { idleTimeoutMs?: number }): Promise<{ handler: McpHttpHandler; server: Server; url: URL }> {
    const h = createMcpHttpHandler({
      tokens: TOKENS,
      allowedOrigins: [ALLOWED_ORIGIN],
      createServer: (principal) =>
        createMcpServer({ gate: runtime.gate, tools: allTools, runs: runtime.runs, approvals: runtime.approvals, auditFile: runtime.config.auditFile, runbooks: runtime.runbooks, principalFor: () => principal }),
      ...extra,
    });
    const s = createServer((req, res) => void h(req, res));
    await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
    return { handler: h, server: s, url: new URL(`http://127.0.0.1:${(s.address() as AddressInfo).port}/mcp`) };
  }

  const post = (headers: Record<string, string>) =>
    fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers }, body: JSON.stringify(INITIALIZE) });

  async function connect(token: string, name: string): Promise<{ client: Client; transport: StreamableHTTPClientTransport }> {
    const transport = new StreamableHTTPClientTransport(url, { requestInit: { headers: { authorization: `Bearer ${token}` } } });
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
    const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream', authorization: 'Bearer token-alice-0123456789' };
    const notJson = await fetch(url, { method: 'POST', headers, body: '{"jsonrpc":' });
    expect(notJson.status).toBe(400);
    expect(JSON.stringify(await notJson.json())).toMatch(/not JSON/);
    const notInit = await fetch(url, { method: 'POST', headers, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} }) });
    expect(notInit.status).toBe(400);
    expect(JSON.stringify(await notInit.json())).toMatch(/not an initialize request/);
  });

  it('serves two sessions at once, each acting as the principal of its own token', async () => {
    const [a, b] = await Promise.all([connect('token-alice-0123456789', 'client-a'), connect('token-bob-9876543210', 'client-b')]);
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
    expect(proposed.find((e) => (e.data.args as { action: string }).action === 'list_models')?.principal).toBe('mcp:alice');
    expect(proposed.find((e) => (e.data.args as { action: string }).action === 'list_versions')?.principal).toBe('mcp:bob');
  });

  it('parks a call that needs approval, and executes it exactly once when an ML lead approves', async () => {
    const { client } = await connect('token-alice-0123456789', 'client-approval');
    const args = { action: 'alias_history', model: 'credit-risk' };
    const pending = await client.callTool({ name: 'registry_query', arguments: args });
    expect(pending.isError).toBeFalsy();
    const { approvalId, approvedThrough } = (pending.structuredContent as { pendingApproval: { approvalId: string; approvedThrough: string } }).pendingApproval;
    expect(approvalId).toMatch(/^apr_/);
    expect(approvedThrough).toContain(`HTTP (POST /v1/approvals/${approvalId}/decision)`);

    const before = await client.callTool({ name: 'approval_status', arguments: { approvalId } });
    expect(before.structuredContent).toMatchObject({ status: 'pending', stillNeeded: '1 more approval(s) from [ml-leads]', outcome: null });

    expect(await runtime.approvals.decide(approvalId, { approverId: 'user:bob', verdict: 'grant', comment: 'fine', via: 'http' })).toMatchObject({ ok: true, resolved: true });
    let status: { status: string; outcome: { status: string; output?: unknown } | null } | undefined;
    for (let i = 0; i < 200 && !status?.outcome; i++) {
      status = (await client.callTool({ name: 'approval_status', arguments: { approvalId } })).structuredContent as typeof status;
      if (!status?.outcome) await new Promise((r) => setTimeout(r, 25));
    }
    expect(status).toMatchObject({ status: 'granted', outcome: { status: 'executed', output: { aliasHistory: [] } } });
    await sweeper.sweep();

    const entries = await readAuditEntries(runtime.config.auditFile);
    const callId = entries.find((e) => e.kind === 'approval.requested' && e.data.approvalId === approvalId)!.data.callId;
    expect(entries.filter((e) => e.data.callId === callId).map((e) => e.kind)).toEqual([
      'call.proposed', 'policy.decision', 'approval.requested', 'approval.consumed', 'policy.decision', 'execution.started', 'execution.finished',
    ]);
    expect(entries.find((e) => e.kind === 'approval.vote' && e.data.approvalId === approvalId)?.principal).toBe('user:bob');
  });

  it('reports a call naming a version that does not exist, and bad arguments, as tool errors (never as policy refusals) and audits both under the token\'s principal', async () => {
    const { client } = await connect('token-bob-9876543210', 'client-refusals');
    const before = (await readAuditEntries(runtime.config.auditFile)).length;
    const missing = await client.callTool({ name: 'deploy_canary', arguments: { model: 'credit-risk', version: '99', environment: 'production', trafficPercent: 5 } });
    expect(missing).toMatchObject({ isError: true, content: [{ text: 'deploy_canary: not found: model "credit-risk" has no version "99"' }] });
    const invalid = await client.callTool({ name: 'deploy_canary', arguments: { model: 'credit-risk', version: '1', environment: 'moon', trafficPercent: 5 } });
    expect(invalid).toMatchObject({ isError: true, content: [{ text: expect.stringMatching(/^invalid arguments for deploy_canary: environment: /) }] });
    const entries = (await readAuditEntries(runtime.config.auditFile)).slice(before);
    expect(entries.filter((e) => e.principal === 'mcp:bob' && ['policy.decision', 'call.invalid', 'call.not_found'].includes(e.kind)).map((e) => e.kind)).toEqual(['call.not_found', 'call.invalid']);
    expect(entries.some((e) => e.kind === 'execution.started' && e.principal === 'mcp:bob')).toBe(false);
  });

  it('answers approval_status for an unknown or malformed id with a tool error', async () => {
    const { client } = await connect('token-bob-9876543210', 'client-status');
    const unknown = await client.callTool({ name: 'approval_status', arguments: { approvalId: 'apr_zzzz_00000000' } });
    expect(unknown).toMatchObject({ isError: true, content: [{ text: 'no approval apr_zzzz_00000000' }] });
    const malformed = await client.callTool({ name: 'approval_status', arguments: { approvalId: 42 } });
    expect(malformed).toMatchObject({ isError: true, content: [{ text: expect.stringMatching(/^invalid arguments for approval_status: approvalId: /) }] });
  });

  it('refuses a session to a token other than the one that opened it', async () => {
    const { transport } = await connect('token-alice-0123456789', 'client-c');
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', authorization: 'Bearer token-bob-9876543210', 'mcp-session-id': transport.sessionId! },
      body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/list', params: {} }),
    });
    expect(res.status).toBe(403);
  });

  it('closes a session left idle', async () => {
    const idle = await mount({ idleTimeoutMs: 500 });
    try {
      const transport = new StreamableHTTPClientTransport(idle.url, { requestInit: { headers: { authorization: 'Bearer token-alice-0123456789' } } });
      const client = new Client({ name: 'client-idle', version: '1.0.0' });
      clients.push(client);
      await client.connect(transport);
      await client.listTools();
      expect(idle.handler.sessionCount()).toBe(1);
      await new Promise((resolve) => setTimeout(resolve, 1500));
      expect(idle.handler.sessionCount()).toBe(0);
      const res = await fetch(idle.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', authorization: 'Bearer token-alice-0123456789', 'mcp-session-id': transport.sessionId! },
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
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', authorization: 'Bearer token-bob-9876543210', 'mcp-session-id': id },
      body: JSON.stringify({ jsonrpc: '2.0', id: 3, method: 'tools/list', params: {} }),
    });
    expect(res.status).toBe(404);
  });
});
