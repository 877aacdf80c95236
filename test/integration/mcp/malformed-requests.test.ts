// What the fuzz suite found in the MCP surface, kept as plain tests: a `__proto__` key in
// tool arguments (the SDK's copy made it the prototype, so its values reached the schema
// unseen and the audit log missed them), and malformed requests answered as internal
// errors (params of the wrong shape, a resource URI that is not one). Real runtime, gate
// and audit log; the SDK's client over its in-memory transport and over Streamable HTTP.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { rm } from 'node:fs/promises';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { ErrorCode, McpError } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allTools } from '../../../tools/index.js';
import { readAuditEntries } from '../../../src/audit/index.js';
import { openLocalLab, type LocalLab } from '../../../src/backends/local/index.js';
import { loadConfig } from '../../../src/app/config.js';
import { silentLogger } from '../../../src/logger.js';
import { createMcpHttpHandler, createMcpServer, guardRequests, type McpHttpHandler } from '../../../src/mcp/index.js';
import { createRuntime, type Runtime } from '../../../src/app/runtime.js';
import { seededHome } from './seed-lab.js';

const TOKEN = 'token-malformed-0123456789';

describe('malformed MCP requests', () => {
  let home: string;
  let lab: LocalLab;
  let runtime: Runtime;
  let handler: McpHttpHandler;
  let server: Server;
  let url: URL;

  const mcpServer = () =>
    createMcpServer({
      gate: runtime.gate,
      tools: allTools,
      runs: runtime.runs,
      approvals: runtime.approvals,
      auditFile: runtime.config.auditFile,
      runbooks: runtime.runbooks,
      principalFor: () => ({ id: 'mcp:user:bob', roles: [] }),
      readsAll: true,
    });

  beforeAll(async () => {
    home = await seededHome('mcp-malformed-');
    const config = loadConfig({ env: { MLOPS_AGENT_HOME: home, MLOPS_AGENT_LOG_LEVEL: 'silent' }, cwd: home });
    lab = await openLocalLab({ config, logger: silentLogger });
    runtime = await createRuntime({ config, logger: silentLogger, backends: lab });
    handler = createMcpHttpHandler({
      tokens: [{ token: TOKEN, principal: 'user:bob', scopes: ['mcp'] }],
      createServer: () => mcpServer(),
    });
    server = createServer((req, res) => void handler(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`);
  });

  afterAll(async () => {
    await handler?.close();
    await new Promise((resolve) => server?.close(resolve));
    await runtime?.close();
    await lab?.close();
    await rm(home, { recursive: true, force: true });
  });

  async function inMemoryClient(): Promise<{ client: Client; close(): Promise<void> }> {
    const s = mcpServer();
    const [a, b] = InMemoryTransport.createLinkedPair();
    const client = new Client({ name: 'malformed', version: '1' });
    await s.connect(a);
    guardRequests(a);
    await client.connect(b);
    return { client, close: async () => Promise.all([client.close(), s.close()]).then(() => undefined) };
  }

  it('refuses tool arguments with a __proto__ key as invalid, audited as sent, and runs nothing', async () => {
    const { client, close } = await inMemoryClient();
    try {
      // Parsed JSON keeps __proto__ as an own key, as a client's JSON on the wire does.
      const args = JSON.parse(
        '{"__proto__":{"trafficPercent":100},"model":"credit-risk","version":"1","environment":"production"}',
      ) as Record<string, unknown>;
      const before = runtime.audit.lastSeq();
      const result = await client.callTool({ name: 'deploy_canary', arguments: args });
      expect(result).toMatchObject({
        isError: true,
        content: [
          {
            text: expect.stringMatching(
              /^invalid arguments for deploy_canary: .*trafficPercent: Required.*Unrecognized key\(s\) in object: '__proto__'/,
            ),
          },
        ],
      });
      const entries = (await readAuditEntries(runtime.config.auditFile)).filter((e) => e.seq > before);
      expect(entries.map((e) => e.kind)).toEqual(['call.proposed', 'call.invalid']);
      expect(entries[0]!.data.args).toEqual({
        __proto__: { trafficPercent: 100 },
        model: 'credit-risk',
        version: '1',
        environment: 'production',
      });
    } finally {
      await close();
    }
  });

  it("answers params of the wrong shape, and a resource URI that is not one, as the client's fault (InvalidParams)", async () => {
    const { client, close } = await inMemoryClient();
    try {
      const fault = async (p: Promise<unknown>) => {
        const err = await p.then(
          () => null,
          (e: unknown) => e,
        );
        expect(err).toBeInstanceOf(McpError);
        return err as McpError;
      };
      const tools = await fault(
        client.request(
          { method: 'tools/call', params: { name: 'registry_query', arguments: [1, 2] } as never },
          z.object({}).passthrough(),
        ),
      );
      expect(tools.code).toBe(ErrorCode.InvalidParams);
      const prompt = await fault(
        client.request({ method: 'prompts/get', params: { a: { b: 1 } } as never }, z.object({}).passthrough()),
      );
      expect(prompt.code).toBe(ErrorCode.InvalidParams);
      expect(prompt.message).toContain('invalid params for prompts/get: params.name');
      const notUri = await fault(client.readResource({ uri: '1e309' }));
      expect(notUri).toMatchObject({
        code: ErrorCode.InvalidParams,
        message: expect.stringContaining('"1e309" is not a resource URI'),
      });
      const badEscape = await fault(client.readResource({ uri: 'mlops://runs/%E0%A4%A' }));
      expect(badEscape.code).toBe(ErrorCode.InvalidParams);
      // The session is still good.
      expect((await client.listTools()).tools.length).toBe(allTools.length + 1);
    } finally {
      await close();
    }
  });

  it('answers a body with a __proto__ or constructor.prototype key 400 over HTTP, as every other route does', async () => {
    for (const body of [
      '{"__proto__":{"x":1},"jsonrpc":"2.0","id":1,"method":"initialize"}',
      '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"constructor":{"prototype":{"x":1}}}}',
    ]) {
      const res = await fetch(url, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${TOKEN}`,
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
        },
        body,
      });
      expect(res.status).toBe(400);
      expect(JSON.stringify(await res.json())).toMatch(
        /request body has a \\"(__proto__|constructor)\\" key, which is not accepted/,
      );
    }
  });
});
