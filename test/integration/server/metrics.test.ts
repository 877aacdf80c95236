// /metrics as `serve` wires it, with an LLM (a local server speaking the OpenAI protocol):
// runs by trigger and outcome, tool calls by decision, and LLM tokens by planner.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  closeAgentProcess,
  openAgentProcess,
  startWorking,
  type AgentProcess,
} from '../../../src/app/agent-process.js';
import { loadConfig } from '../../../src/app/config.js';
import { silentLogger } from '../../../src/logger.js';
import { createServer } from '../../../src/server/index.js';
import { eventually } from '../../support/cli-process.js';
import {
  chatTextReply,
  startFakeOpenAiServer,
  toolCallsReply,
  type FakeOpenAiServer,
} from '../../support/fake-openai-server.js';

const TOKEN = 'metrics-token-0123456789abcdef';
const AUTH = { authorization: `Bearer ${TOKEN}` };

describe('/metrics', () => {
  let home: string;
  let llm: FakeOpenAiServer;
  let agent: AgentProcess;
  let app: Awaited<ReturnType<typeof createServer>>;

  beforeAll(async () => {
    home = await mkdtemp(join(tmpdir(), 'mlops-metrics-'));
    llm = await startFakeOpenAiServer();
    const config = loadConfig({
      env: {
        MLOPS_AGENT_HOME: home,
        MLOPS_AGENT_LOG_LEVEL: 'silent',
        MLOPS_AGENT_LLM: 'openai',
        OPENAI_BASE_URL: llm.baseUrl,
        OPENAI_MODEL: 'fake-model',
        MLOPS_AGENT_API_TOKEN: TOKEN,
      },
      cwd: home,
    });
    agent = await openAgentProcess(config, silentLogger, { executesRuns: true });
    startWorking(agent, 1);
    app = await createServer({
      runtime: agent.runtime,
      queue: agent.queue,
      runs: agent.runtime.runs,
      tokens: config.server.tokens,
      logger: silentLogger,
      metrics: agent.metrics,
    });
  });

  afterAll(async () => {
    await app?.close();
    if (agent) await closeAgentProcess(agent, 5_000, silentLogger);
    await llm?.close();
    await rm(home, { recursive: true, force: true });
  });

  it('counts runs by trigger and outcome, tool calls by decision, and the tokens each planner used', async () => {
    llm.script(
      toolCallsReply(
        [
          { name: 'registry_query', args: { action: 'list_models' } },
          { name: 'deploy_canary', args: { model: 'credit-risk', trafficPercent: 'lots' } },
        ],
        { usage: [100, 20] },
      ),
      chatTextReply('no models are registered yet', [150, 30]),
    );
    const res = await app.inject({
      method: 'POST',
      url: '/v1/chat',
      headers: AUTH,
      payload: { text: 'which models are there?' },
    });
    expect(res.statusCode).toBe(202);
    const { runId } = res.json() as { runId: string };
    const scrape = () => app.inject({ method: 'GET', url: '/metrics', headers: AUTH }).then((r) => r.body);
    const body = await eventually('the settled run to be counted', async () => {
      const text = await scrape();
      // The canary it tried had invalid arguments and never ran: the run failed.
      return text.includes('mlops_agent_runs_settled_total{trigger="chat",outcome="failed"} 1') ? text : undefined;
    });
    expect((await agent.runtime.runs.get(runId))?.usage).toEqual({ input: 250, output: 50 });
    expect(body).toContain('mlops_agent_tool_calls_total{tool="registry_query",decision="allow"} 1');
    expect(body).toContain('mlops_agent_tool_calls_total{tool="deploy_canary",decision="invalid"} 1');
    expect(body).toContain('mlops_agent_llm_tokens_total{planner="openai:fake-model",direction="input"} 250');
    expect(body).toContain('mlops_agent_llm_tokens_total{planner="openai:fake-model",direction="output"} 50');
    expect(body).toContain('mlops_agent_runs_enqueued_total{trigger="chat",coalesced="false"} 1');
    expect(body).toMatch(/mlops_agent_queue_depth 0/);
  });
});
