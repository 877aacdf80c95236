import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Planner } from '../../../src/agent/planner.js';
import { loadConfig } from '../../../src/app/config.js';
import { UserError } from '../../../src/errors.js';
import { silentLogger } from '../../../src/logger.js';
import { createPlannerFromConfig, resolveProvider } from '../../../src/planners/index.js';
import { startFakeGeminiServer, textReply, type FakeGeminiServer } from '../../support/fake-gemini-server.js';
import { chatTextReply, startFakeOpenAiServer, type FakeOpenAiServer } from '../../support/fake-openai-server.js';

// An empty directory, so no mlops-agent.yaml is picked up from the repository.
const cwd = mkdtempSync(join(tmpdir(), 'llm-config-'));
const llmFrom = (env: Record<string, string>) => loadConfig({ env, cwd }).llm;

const runbook: Planner = {
  name: 'runbook:test',
  next: async () => ({ kind: 'answer', text: 'from the runbook', usage: { input: 0, output: 0 } }),
};
const deps = { runbookPlanner: () => runbook, logger: silentLogger, sleep: async () => {} };
const trigger = { kind: 'trigger' as const, trigger: 'chat', text: 'status?', data: null };

let gemini: FakeGeminiServer;
let openai: FakeOpenAiServer;
beforeAll(async () => {
  [gemini, openai] = await Promise.all([startFakeGeminiServer(), startFakeOpenAiServer()]);
});
afterAll(async () => {
  await Promise.all([gemini.close(), openai.close()]);
  rmSync(cwd, { recursive: true, force: true });
});

describe('createPlannerFromConfig', () => {
  it('picks Gemini under auto when a key is set, even with an OpenAI endpoint too', () => {
    expect(resolveProvider(llmFrom({ GEMINI_API_KEY: 'k', OPENAI_BASE_URL: 'http://127.0.0.1:1/v1' }))).toBe('gemini');
  });

  it('picks the OpenAI-compatible endpoint under auto when only it is set', () => {
    expect(resolveProvider(llmFrom({ OPENAI_BASE_URL: 'http://127.0.0.1:1/v1' }))).toBe('openai');
  });

  it('falls back to the runbook planner under auto with nothing set', () => {
    const planner = createPlannerFromConfig(llmFrom({}), deps);
    expect(planner).toBe(runbook);
  });

  it('uses the runbook when asked, even with a Gemini key', () => {
    expect(createPlannerFromConfig(llmFrom({ MLOPS_AGENT_LLM: 'runbook', GEMINI_API_KEY: 'k' }), deps)).toBe(runbook);
  });

  it('refuses an explicit provider whose settings are missing, saying which variable to set', () => {
    expect(() => createPlannerFromConfig(llmFrom({ MLOPS_AGENT_LLM: 'gemini' }), deps)).toThrow(UserError);
    expect(() => createPlannerFromConfig(llmFrom({ MLOPS_AGENT_LLM: 'gemini' }), deps)).toThrow(/GEMINI_API_KEY/);
    expect(() => createPlannerFromConfig(llmFrom({ MLOPS_AGENT_LLM: 'openai' }), deps)).toThrow(/OPENAI_BASE_URL/);
  });

  it('builds a Gemini planner that talks to the configured base URL with the configured model and key', async () => {
    gemini.script(textReply('gemini says hi'));
    const planner = createPlannerFromConfig(
      llmFrom({ GEMINI_API_KEY: 'cfg-key', GEMINI_MODEL: 'gemini-cfg', GEMINI_BASE_URL: gemini.baseUrl }),
      deps,
    );
    expect(planner.name).toBe('gemini:gemini-cfg');
    await expect(
      planner.next({ runId: 'r', systemPrompt: 's', transcript: [trigger], tools: [] }),
    ).resolves.toMatchObject({ text: 'gemini says hi' });
    expect(gemini.requests.at(-1)).toMatchObject({
      path: '/v1beta/models/gemini-cfg:generateContent',
      headers: { 'x-goog-api-key': 'cfg-key' },
    });
  });

  it('builds an OpenAI-compatible planner that talks to the configured endpoint', async () => {
    openai.script(chatTextReply('local model says hi'));
    const planner = createPlannerFromConfig(
      llmFrom({ OPENAI_BASE_URL: openai.baseUrl, OPENAI_MODEL: 'qwen2.5', OPENAI_API_KEY: 'sk-x' }),
      deps,
    );
    expect(planner.name).toBe('openai:qwen2.5');
    await expect(
      planner.next({ runId: 'r', systemPrompt: 's', transcript: [trigger], tools: [] }),
    ).resolves.toMatchObject({ text: 'local model says hi' });
    expect(openai.requests.at(-1)).toMatchObject({
      body: { model: 'qwen2.5' },
      headers: { authorization: 'Bearer sk-x' },
    });
  });
});
