// Errors shown to models and clients name data by id, never by the data directory's
// absolute path: a tool failing on a missing data set (the gate's answer, which the model
// and MCP clients read), a stored run that cannot be read (an HTTP 400), a broken approval
// file behind approval_status. The real runtime and lab over files in a temp home.
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allTools } from '../../../tools/index.js';
import { openLocalLab, type LocalLab } from '../../../src/backends/local/index.js';
import { loadConfig } from '../../../src/app/config.js';
import { createLocalRunQueue, type RunQueue } from '../../../src/intake/index.js';
import { silentLogger } from '../../../src/logger.js';
import { createMcpServer } from '../../../src/mcp/index.js';
import { createRuntime, type Runtime } from '../../../src/app/runtime.js';
import { createServer } from '../../../src/server/index.js';

const TOKEN = 'operator-token-0123456789abcdef';

describe('errors name data by id, not by path', () => {
  let home: string;
  let lab: LocalLab;
  let runtime: Runtime;
  let queue: RunQueue;
  let app: FastifyInstance;

  beforeAll(async () => {
    home = await mkdtemp(join(tmpdir(), 'mlops-no-paths-'));
    const config = loadConfig({
      env: { MLOPS_AGENT_HOME: home, MLOPS_AGENT_LLM: 'runbook', MLOPS_AGENT_API_TOKEN: TOKEN },
      cwd: home,
    });
    lab = await openLocalLab({ config, logger: silentLogger });
    runtime = await createRuntime({ config, logger: silentLogger, backends: lab });
    queue = createLocalRunQueue({ attempts: 1 });
    app = await createServer({
      runtime,
      queue,
      runs: runtime.runs,
      approvals: runtime.approvals,
      tokens: config.server.tokens,
      logger: silentLogger,
    });
    await app.ready();
  });

  afterAll(async () => {
    await app?.close();
    await queue?.close();
    await runtime?.close();
    await lab?.close();
    await rm(home, { recursive: true, force: true });
  });

  it('tells the model (and every reader of the run) which data set is missing, not where the lab keeps it', async () => {
    const outcome = await runtime.gate.call({
      runId: null,
      callId: 'c1',
      principal: { id: 'user:alice', roles: [] },
      tool: 'check_data_quality',
      args: { dataset: 'credit-nowhere' },
    });
    expect(outcome).toMatchObject({
      status: 'failed',
      error: 'dataset "credit-nowhere" not found (looked for credit-nowhere.csv)',
    });
    expect(JSON.stringify(outcome)).not.toContain(home);
  });

  it('answers an MCP client without the path too', async () => {
    const server = createMcpServer({
      gate: runtime.gate,
      tools: allTools,
      runs: runtime.runs,
      approvals: runtime.approvals,
      auditFile: runtime.config.auditFile,
      runbooks: runtime.runbooks,
      principalFor: () => ({ id: 'mcp:user:alice', roles: [] }),
      readsAll: true,
    });
    const [a, b] = InMemoryTransport.createLinkedPair();
    const client = new Client({ name: 't', version: '1' });
    await Promise.all([server.connect(a), client.connect(b)]);
    try {
      const result = await client.callTool({
        name: 'trigger_retrain',
        arguments: { model: 'credit-risk', dataset: 'credit-nowhere' },
      });
      expect(result.isError).toBe(true);
      expect(JSON.stringify(result.content)).toContain('credit-nowhere.csv');
      expect(JSON.stringify(result.content)).not.toContain(home);
      // A stored approval this build cannot read: named by its file, not its path.
      await mkdir(join(home, 'approvals'), { recursive: true });
      await writeFile(join(home, 'approvals', 'apr_broken_0000abcd.json'), JSON.stringify({ schemaVersion: 99 }));
      const status = await client.callTool({
        name: 'approval_status',
        arguments: { approvalId: 'apr_broken_0000abcd' },
      });
      expect(status).toMatchObject({
        isError: true,
        content: [
          {
            text: 'apr_broken_0000abcd.json: approval schema version 99 is not supported (this build reads version 1)',
          },
        ],
      });
    } finally {
      await client.close();
      await server.close();
    }
  });

  it('answers an HTTP client about a run it cannot read without the path', async () => {
    await mkdir(join(home, 'runs'), { recursive: true });
    await writeFile(
      join(home, 'runs', 'run_broken_0001.json'),
      JSON.stringify({ schemaVersion: 99, id: 'run_broken_0001' }),
    );
    const res = await app.inject({
      method: 'GET',
      url: '/v1/runs/run_broken_0001',
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    expect(res.statusCode).toBe(400);
    expect(res.json().message).toBe(
      'run_broken_0001.json: run schema version 99 is not supported (this build reads version 1)',
    );
    expect(res.body).not.toContain(home);
  });
});
