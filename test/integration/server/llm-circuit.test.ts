// With the LLM endpoint answering 500, serve's alert runs fall back to their runbook; after
// repeated failed turns the circuit breaker opens and later runs go to the runbook at once,
// without asking the LLM or paying its retries. The switch is audited and shown in /metrics
// and the /readyz detail.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readAuditEntries } from '../../../src/audit/index.js';
import {
  closeAgentProcess,
  openAgentProcess,
  startWorking,
  type AgentProcess,
} from '../../../src/app/agent-process.js';
import { loadConfig, type Config } from '../../../src/app/config.js';
import { silentLogger } from '../../../src/logger.js';
import { createServer } from '../../../src/server/index.js';
import { eventually } from '../../support/cli-process.js';
import { startFakeOpenAiServer, type FakeOpenAiServer } from '../../support/fake-openai-server.js';

const TOKEN = 'circuit-token-0123456789abcdef';
const AUTH = { authorization: `Bearer ${TOKEN}` };

describe('an LLM endpoint answering 500, behind the circuit breaker', () => {
  let home: string;
  let config: Config;
  let agent: AgentProcess;
  let app: FastifyInstance;
  let llm: FakeOpenAiServer;

  beforeAll(async () => {
    llm = await startFakeOpenAiServer();
    home = await mkdtemp(join(tmpdir(), 'mlops-circuit-'));
    // One retry, short backoff: the test is about what happens after the retries, not their length.
    await writeFile(
      join(home, 'mlops-agent.yaml'),
      'llm:\n  maxRetries: 1\n  retryBaseDelayMs: 50\n  breakerFailures: 2\n  breakerCoolDownMs: 600000\n',
    );
    config = loadConfig({
      env: {
        MLOPS_AGENT_HOME: home,
        MLOPS_AGENT_LOG_LEVEL: 'silent',
        MLOPS_AGENT_LLM: 'openai',
        OPENAI_BASE_URL: llm.baseUrl,
        MLOPS_AGENT_API_TOKEN: TOKEN,
      },
      cwd: home,
    });
    agent = await openAgentProcess(config, silentLogger, { executesRuns: true });
    app = await createServer({
      runtime: agent.runtime,
      queue: agent.queue,
      runs: agent.runtime.runs,
      tokens: config.server.tokens,
      logger: silentLogger,
      metrics: agent.metrics,
    });
    await app.ready();
    startWorking(agent, 1);
  });

  afterAll(async () => {
    await app?.close();
    await closeAgentProcess(agent, 5_000, silentLogger);
    await llm?.close();
    await rm(home, { recursive: true, force: true });
  });

  async function alertRun(n: number): Promise<{ id: string; fallback: { reason: string } | null; planner: string }> {
    const res = await app.inject({
      method: 'POST',
      url: '/v1/alerts',
      headers: AUTH,
      payload: {
        name: 'ModelLatencyHigh',
        dedupeKey: `latency-${n}`,
        labels: { model: 'credit-risk', environment: 'production' },
      },
    });
    expect(res.statusCode).toBe(202);
    const { runId } = res.json() as { runId: string };
    return eventually(`run ${runId} to end`, async () => {
      const r = (await app.inject({ method: 'GET', url: `/v1/runs/${runId}`, headers: AUTH })).json() as {
        id: string;
        status: string;
        fallback: { reason: string } | null;
        planner: string;
      };
      return r.status !== 'queued' && r.status !== 'running' ? r : undefined;
    });
  }

  it('sends alert runs straight to their runbook once repeated turns failed, asking the LLM no more', async () => {
    const first = await alertRun(1);
    const second = await alertRun(2);
    for (const run of [first, second])
      expect(run).toMatchObject({
        planner: 'runbook:canary-rollback',
        fallback: { reason: expect.stringContaining('500') },
      });
    // Two turns, each first request and its one retry.
    expect(llm.requests).toHaveLength(4);

    const third = await alertRun(3);
    expect(third).toMatchObject({
      planner: 'runbook:canary-rollback',
      fallback: { reason: expect.stringContaining('circuit breaker is open after 2 failed turn(s) in a row') },
    });
    expect(llm.requests).toHaveLength(4);

    const ready = await app.inject({ method: 'GET', url: '/readyz', headers: AUTH });
    expect(ready.statusCode).toBe(200);
    expect(ready.json()).toMatchObject({
      status: 'ready',
      planners: [{ planner: expect.stringMatching(/^openai:/), state: 'open', failures: 2, shortCircuited: 1 }],
    });
    const metrics = (await app.inject({ method: 'GET', url: '/metrics', headers: AUTH })).body;
    expect(metrics).toMatch(/mlops_agent_planner_circuit_open\{planner="openai:[^"]+"\} 1/);
    expect(metrics).toMatch(/mlops_agent_planner_short_circuited_turns\{planner="openai:[^"]+"\} 1/);
    const opened = (await readAuditEntries(config.auditFile)).filter((e) => e.kind === 'planner.circuit_opened');
    expect(opened).toHaveLength(1);
    expect(opened[0]!.data).toMatchObject({ state: 'open', failures: 2 });
  });
});
