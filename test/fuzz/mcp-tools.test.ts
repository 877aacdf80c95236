// Property-based fuzzing of every MCP tool and resource over Streamable HTTP (fast-check),
// through the MCP SDK's own client on a real session: valid arguments, mutations of them
// and random values. Each call is answered (a result, or a protocol error naming the bad
// request, never an internal error); a call whose arguments the tool refuses executes
// nothing and parks nothing; only a call the policy sends to people makes an approval.
// Then random JSON-RPC bodies on the session: never a 5xx. Fixed seed and bounded count
// in `npm test`; `npm run fuzz` runs more.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport, StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ErrorCode, McpError } from '@modelcontextprotocol/sdk/types.js';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allTools } from '../../tools/index.js';
import { readAuditEntries } from '../../src/audit/index.js';
import { anyJson, closeAgent, mutated, nastyString, send } from './arbitraries.js';
import { fuzzBudget, fuzzFixture, TOKENS, type FuzzFixture } from './fuzz-fixture.js';

let fx: FuzzFixture;
let client: Client;
let transport: StreamableHTTPClientTransport;
const token = TOKENS.assistant!.token;

beforeAll(async () => {
  fx = await fuzzFixture();
  transport = new StreamableHTTPClientTransport(new URL(`${fx.base}/mcp`), {
    requestInit: { headers: { authorization: `Bearer ${token}` } },
  });
  client = new Client({ name: 'fuzz', version: '1' });
  await client.connect(transport);
});
afterAll(async () => {
  await client?.close();
  closeAgent();
  await fx?.close();
});

const VALID: Record<string, Record<string, unknown>[]> = {
  registry_query: [
    { action: 'list_models' },
    { action: 'list_versions', model: 'credit-risk' },
    { action: 'compare', model: 'credit-risk', version: '2' },
    { action: 'get_version', model: 'credit-risk', version: '1' },
  ],
  check_data_quality: [{ dataset: 'credit-recent' }, { dataset: 'credit-recent', reference: 'credit-train' }],
  trigger_retrain: [
    { model: 'credit-risk', dataset: 'credit-recent' },
    { model: 'credit-risk', dataset: 'credit-recent', params: { learningRate: 0.1, epochs: 5 }, searchTrials: 2 },
  ],
  deploy_canary: [
    { model: 'credit-risk', version: '2', environment: 'staging', trafficPercent: 5 },
    { model: 'credit-risk', version: '2', environment: 'production', trafficPercent: 25 },
  ],
  deploy_shadow: [
    { model: 'credit-risk', version: '2', environment: 'staging', mirrorPercent: 10 },
    { model: 'credit-risk', version: '2', environment: 'production', mirrorPercent: 100 },
  ],
  end_shadow: [
    { model: 'credit-risk', environment: 'staging', reason: 'fuzzing an end' },
    { model: 'credit-risk', environment: 'production', version: '2', reason: 'fuzzing an end' },
  ],
  rollback: [{ model: 'credit-risk', environment: 'staging', reason: 'fuzzing a rollback' }],
  deployment_status: [{ model: 'credit-risk' }, { model: 'credit-risk', environment: 'production' }],
  approval_status: [{ approvalId: 'apr_zzzz_00000000' }],
};

const argsFor = (name: string): fc.Arbitrary<unknown> =>
  fc.oneof(
    { weight: 2, arbitrary: fc.constantFrom(...VALID[name]!) },
    {
      weight: 4,
      arbitrary: fc.constantFrom(...VALID[name]!).chain((v) => mutated(v).map((text) => JSON.parse(text) as unknown)),
    },
    { weight: 2, arbitrary: fc.dictionary(nastyString, anyJson, { maxKeys: 4 }) },
    { weight: 1, arbitrary: anyJson },
  );

const toolCall = fc
  .constantFrom(...Object.keys(VALID))
  .chain((name) => fc.record({ name: fc.constant(name), args: argsFor(name) }));

// Every tool the server lists has arguments here, so a new tool cannot go unfuzzed.
const LISTED = [...allTools.map((t) => t.name), 'approval_status'];

/** Protocol errors a bad request may get: they name what is wrong with the request. */
const CLIENT_FAULTS = new Set<number>([ErrorCode.InvalidParams, ErrorCode.InvalidRequest, ErrorCode.MethodNotFound]);

/** A refusal that blames the request: a protocol error saying what is wrong with it, or an HTTP 4xx (a body too large, a __proto__ key). */
function expectClientFault(err: unknown, what: string): void {
  if (err instanceof StreamableHTTPError) {
    expect(err.code, `${what}: ${String(err)}`).toBeGreaterThanOrEqual(400);
    expect(err.code, `${what}: ${String(err)}`).toBeLessThan(500);
    return;
  }
  expect(err, `${what}: ${String(err)}`).toBeInstanceOf(McpError);
  expect(CLIENT_FAULTS.has((err as McpError).code), `${what}: ${String(err)}`).toBe(true);
}

describe('fuzzing every MCP tool', () => {
  it('has arguments for every listed tool', () => {
    expect(Object.keys(VALID).sort()).toEqual([...LISTED].sort());
  });

  it('answers every call, executes and parks nothing on arguments the tool refuses, and approves nothing on its own', async () => {
    const { numRuns, seed } = fuzzBudget(200);
    await fc.assert(
      fc.asyncProperty(toolCall, async ({ name, args }) => {
        const before = await fx.snapshot();
        let result: Awaited<ReturnType<Client['callTool']>> | null = null;
        try {
          result = await client.callTool({ name, arguments: args as Record<string, unknown> });
        } catch (err) {
          // Arguments that are not an object are refused by the protocol itself, as a client fault.
          expectClientFault(err, `${name} ${JSON.stringify(args).slice(0, 200)}`);
        }
        const after = await fx.snapshot();
        const what = `${name} ${JSON.stringify(args).slice(0, 300)} -> ${JSON.stringify(result).slice(0, 300)}`;
        expect(after.enqueued, what).toBe(before.enqueued);
        const added = after.auditSeq - before.auditSeq;
        const entries =
          added > 0
            ? (await readAuditEntries(fx.runtime.config.auditFile, { tail: added })).filter(
                (e) => e.seq > before.auditSeq,
              )
            : [];
        const tool = allTools.find((t) => t.name === name);
        const valid = tool ? tool.input.safeParse(args ?? {}).success : false;
        if (tool && !valid && result) {
          expect(result.isError, what).toBe(true);
          expect(
            entries.map((e) => e.kind),
            what,
          ).toEqual(['call.proposed', 'call.invalid']);
        }
        if (!valid) expect(after.approvals, what).toBe(before.approvals);
        // An approval only for a call the policy sent to people, and the caller is told its id.
        if (after.approvals > before.approvals) {
          expect(
            (result?.structuredContent as { pendingApproval?: { approvalId?: string } } | undefined)?.pendingApproval
              ?.approvalId,
            what,
          ).toMatch(/^apr_/);
        }
        if (entries.some((e) => e.kind === 'execution.started')) expect(valid, what).toBe(true);
      }),
      { numRuns, seed, endOnFailure: true },
    );
  });

  it('answers every resource read with the resource or an error naming the request', async () => {
    const { numRuns, seed } = fuzzBudget(60);
    const uri = fc.oneof(
      fc.constantFrom(
        'mlops://models',
        'mlops://audit/tail',
        'mlops://runs/run_zz_00000000',
        'mlops://models/credit-risk/versions',
        'mlops://models/credit-risk/serving',
      ),
      nastyString.map((s) => `mlops://models/${encodeURIComponent(s)}/serving`),
      nastyString.map((s) => `mlops://runs/${encodeURIComponent(s)}`),
      nastyString.map((s) => `mlops://models/${encodeURIComponent(s)}/versions`),
      nastyString,
    );
    await fc.assert(
      fc.asyncProperty(uri, async (u) => {
        try {
          await client.readResource({ uri: u });
        } catch (err) {
          expectClientFault(err, u.slice(0, 200));
        }
      }),
      { numRuns, seed, endOnFailure: true },
    );
  });

  it('answers random JSON-RPC on a live session without a 5xx, and the session still works', async () => {
    const { numRuns, seed } = fuzzBudget(100);
    const body = fc.oneof(
      anyJson.map((v) => JSON.stringify(v)),
      fc
        .record({
          jsonrpc: fc.oneof(fc.constant('2.0'), nastyString),
          id: fc.oneof(fc.nat(), nastyString, fc.constant(null)),
          method: fc.oneof(
            fc.constantFrom(
              'tools/call',
              'tools/list',
              'resources/read',
              'prompts/get',
              'initialize',
              'ping',
              'logging/setLevel',
              'completion/complete',
            ),
            nastyString,
          ),
          params: anyJson,
        })
        .map((v) => JSON.stringify(v)),
      nastyString,
    );
    await fc.assert(
      // (A GET on the session would open its event stream, which stays open by design.)
      fc.asyncProperty(body, fc.constantFrom('POST', 'DELETE', 'PUT', 'PATCH'), async (text, method) => {
        // DELETE would end the session under test: sent without its id, it can only be refused.
        const session: Record<string, string> = method === 'DELETE' ? {} : { 'mcp-session-id': transport.sessionId! };
        const res = await send(fx.base, {
          route: 'mcp',
          signed: false,
          method,
          path: '/mcp',
          headers: {
            authorization: `Bearer ${token}`,
            'content-type': 'application/json',
            accept: 'application/json, text/event-stream',
            'mcp-protocol-version': '2025-06-18',
            ...session,
          },
          body: text,
        });
        const what = `${method} ${text.slice(0, 200)} -> ${res.status} ${res.body.slice(0, 300)}`;
        expect(res.status, what).toBeLessThan(500);
        // A malformed request is the client's fault: never answered as an internal error.
        expect(res.body, what).not.toContain(`"code":${ErrorCode.InternalError}`);
      }),
      { numRuns, seed, endOnFailure: true },
    );
    expect((await client.listTools()).tools.length).toBe(allTools.length + 1);
  });
});
