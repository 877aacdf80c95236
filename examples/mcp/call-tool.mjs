#!/usr/bin/env node
// A minimal MCP client: calls one tool of `mlops-agent serve` over Streamable HTTP, as an
// assistant would, and prints the result.
//   MLOPS_AGENT_URL=http://127.0.0.1:8080 MLOPS_AGENT_TOKEN=... node examples/mcp/call-tool.mjs <tool> '<json arguments>'
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

const [tool, args = '{}'] = process.argv.slice(2);
const url = process.env.MLOPS_AGENT_URL ?? 'http://127.0.0.1:8080';
const token = process.env.MLOPS_AGENT_TOKEN;
if (!tool || !token) {
  process.stderr.write(
    "usage: MLOPS_AGENT_TOKEN=<token> [MLOPS_AGENT_URL=...] node examples/mcp/call-tool.mjs <tool> '<json arguments>'\n",
  );
  process.exit(2);
}
let parsed;
try {
  parsed = JSON.parse(args);
} catch (err) {
  process.stderr.write(`the arguments are not JSON: ${err.message}\n`);
  process.exit(2);
}
const client = new Client({ name: 'call-tool', version: '1.0.0' });
await client.connect(
  new StreamableHTTPClientTransport(new URL(`${url}/mcp`), {
    requestInit: { headers: { authorization: `Bearer ${token}` } },
  }),
);
const result = await client.callTool({ name: tool, arguments: parsed });
await client.close();
const summary = (result.content ?? []).find((block) => block.type === 'text');
if (summary) process.stdout.write(`${summary.text}\n`);
process.exitCode = result.isError ? 1 : 0;
