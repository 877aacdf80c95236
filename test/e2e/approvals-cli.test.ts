// `mlops-agent approvals` as an operator uses it: the built command against a running
// built `serve`, each person with their own token. An MCP client parks a call; a risk
// officer is refused (exit 1); an ML lead denies it with a reason; errors name the fix.
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seededHome } from '../integration/mcp/seed-lab.js';
import { startCli, type CliProcess } from '../support/cli-process.js';
import { runCli } from '../support/run-cli.js';

const tokens = {
  operator: 'cli-e2e-operator-token-0123',
  alice: 'cli-e2e-alice-token-012345',
  carol: 'cli-e2e-carol-token-012345',
};

// One approval's story: it is listed and refused while pending, then denied; the order is fixed.
describe('mlops-agent approvals (the built command, through serve)', { shuffle: false }, () => {
  let home: string;
  let serve: CliProcess;
  let url: string;
  let approvalId: string;

  const approvals = (token: string, args: string[]) =>
    runCli(['approvals', ...args], {
      cwd: home,
      env: { MLOPS_AGENT_HOME: home, MLOPS_AGENT_URL: url, MLOPS_AGENT_TOKEN: token },
    });

  beforeAll(async () => {
    home = await seededHome('mlops-approvals-cli-');
    const scopes = (who: string) => (who === 'operator' ? '[alerts, chat, read, approve, mcp]' : '[read, approve]');
    const yaml = [
      'server:',
      '  tokens:',
      ...Object.entries(tokens).map(
        ([who, token]) => `    - { token: ${token}, principal: "user:${who}", scopes: ${scopes(who)} }`,
      ),
    ].join('\n');
    await writeFile(join(home, 'mlops-agent.yaml'), `${yaml}\n`);
    serve = startCli(['serve', '--port', '0'], { cwd: home, env: { MLOPS_AGENT_HOME: home } });
    [, url] = (await serve.line(/serving on (http:\/\/127\.0\.0\.1:\d+)/)) as unknown as [string, string];

    // The operator's assistant asks for a production canary above 5%: it parks.
    const client = new Client({ name: 'assistant', version: '1.0.0' });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(`${url}/mcp`), {
        requestInit: { headers: { authorization: `Bearer ${tokens.operator}` } },
      }),
    );
    const pending = await client.callTool({
      name: 'deploy_canary',
      arguments: { model: 'credit-risk', version: '1', environment: 'production', trafficPercent: 50 },
    });
    approvalId = (pending.structuredContent as { pendingApproval: { approvalId: string } }).pendingApproval.approvalId;
    await client.close();
  });

  afterAll(async () => {
    await serve?.stop();
    await rm(home, { recursive: true, force: true });
  });

  it('lists the pending approval with who asked and what it still needs', async () => {
    const { code, stdout } = await approvals(tokens.carol, ['list']);
    expect(code).toBe(0);
    expect(stdout).toContain(`${approvalId}  pending  deploy_canary`);
    expect(stdout).toMatch(/mcp:user:operator {2}needs 1 more approval\(s\) from \[ml-leads\]/);
    // -o json: one JSON document, the same approvals.
    const json = await approvals(tokens.carol, ['list', '-o', 'json']);
    expect(JSON.parse(json.stdout)).toEqual([expect.objectContaining({ id: approvalId, status: 'pending' })]);
  });

  it("refuses an approver without the rule's role, exit 1, after showing what was asked", async () => {
    const { code, stdout, stderr } = await approvals(tokens.carol, ['approve', approvalId]);
    expect(code).toBe(1);
    expect(stdout).toContain(`approval ${approvalId}  PENDING`);
    expect(stdout).toMatch(/args hash {2}[0-9a-f]{64}/);
    expect(stderr).toContain('user:carol holds roles [risk-officers]; this approval needs one of [ml-leads]');
  });

  it('refuses the requester deciding on their own request', async () => {
    const { code, stderr } = await approvals(tokens.operator, ['approve', approvalId]);
    expect(code).toBe(1);
    expect(stderr).toContain('user:operator asked for this call and cannot decide on their own request');
  });

  it('denies with a reason as an ML lead, and shows the decision afterwards', async () => {
    const denied = await approvals(tokens.alice, ['deny', approvalId, '--comment', 'not before the labels are in']);
    expect(denied.code).toBe(0);
    expect(denied.stdout).toContain(
      `approval ${approvalId} denied by user:alice: not before the labels are in; nothing will be executed`,
    );
    const shown = await approvals(tokens.carol, ['show', approvalId, '--json']);
    expect(JSON.parse(shown.stdout)).toMatchObject({
      status: 'denied',
      votes: [{ by: 'user:alice', verdict: 'deny', via: 'http' }],
      outcome: null,
    });
  });

  it('says how to fix a bad token (exit 2), an unknown id (exit 2) and an unreachable server (exit 4)', async () => {
    const badToken = await approvals('not-a-token-0123456789', ['list']);
    expect(badToken.code).toBe(2);
    expect(badToken.stderr).toContain('refused the token');
    const unknown = await approvals(tokens.alice, ['show', 'apr_zzzz_00000000']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('no approval apr_zzzz_00000000');
    const down = await runCli(['approvals', 'list'], {
      cwd: home,
      env: { MLOPS_AGENT_HOME: home, MLOPS_AGENT_URL: 'http://127.0.0.1:9', MLOPS_AGENT_TOKEN: tokens.alice },
    });
    expect(down.code).toBe(4);
    expect(down.stderr).toContain('cannot reach mlops-agent serve at http://127.0.0.1:9');
  });
});
