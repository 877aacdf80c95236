import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { allTools } from '../../../tools/index.js';
import { createAgent, RunHandedOver, type AgentDeps } from '../../../src/agent/loop.js';
import type { Planner } from '../../../src/agent/planner.js';
import type { Trigger } from '../../../src/agent/run.js';
import { createFileRunStore, upgradeRun } from '../../../src/agent/run-store.js';
import { verifyAuditFile } from '../../../src/audit/index.js';
import { systemClock } from '../../../src/clock.js';
import { ModelBehaviorError, UpstreamError } from '../../../src/errors.js';
import { toolSpecs } from '../../../src/llm/tool-schema.js';
import { silentLogger } from '../../../src/logger.js';
import { gateFixture, type GateFixture } from '../../support/gate-fixture.js';
import { manualClock } from '../../support/manual-clock.js';
import { answer, call, scriptedPlanner, usage } from '../../support/scripted-planner.js';

const chat: Trigger = { kind: 'chat', principal: { id: 'user:alice', roles: [] }, text: 'what is the champion?', data: { question: 'what is the champion?' } };
const limits = { maxSteps: 10, maxWallMs: 60_000, maxTokens: 10_000, maxRepeatedCalls: 2 };

let fx: GateFixture;
afterEach(async () => fx?.cleanup());

async function agentWith(planner: Planner, overrides: Partial<AgentDeps> = {}) {
  fx = await gateFixture();
  const runs = createFileRunStore(join(fx.dir, 'runs'));
  const agent = createAgent({
    gate: fx.gate,
    audit: fx.audit,
    runs,
    tools: toolSpecs(allTools),
    systemPrompt: 'test',
    plannerFor: () => planner,
    fallbackFor: () => null,
    limits,
    clock: systemClock,
    logger: silentLogger,
    ...overrides,
  });
  return { agent, runs };
}

describe('the agent loop', () => {
  it('stops a run its worker lost before writing or calling anything more', async () => {
    const lost = new AbortController();
    const planner = scriptedPlanner([
      () => {
        // The queue's lock on the run lapsed while the LLM answered: another worker has it now.
        lost.abort();
        return call('rollback', { model: 'credit-risk', environment: 'production', reason: 'canary score drift' });
      },
    ]);
    const { agent, runs } = await agentWith(planner);
    await expect(agent.start(chat, 'run_lost_1', { signal: lost.signal })).rejects.toBeInstanceOf(RunHandedOver);
    // What the other worker finds is what this one had saved: the trigger, nothing after it.
    expect((await runs.get('run_lost_1'))!.transcript.map((i) => i.kind)).toEqual(['trigger']);
    expect(fx.backends.calls.filter((c) => c.startsWith('deployer.'))).toEqual([]);
  });

  it('runs tool calls through the gate, feeds results back and ends on the answer', async () => {
    const planner = scriptedPlanner([call('registry_query', { action: 'list_models' }), answer('credit-risk v1 is champion')]);
    const { agent, runs } = await agentWith(planner);
    const run = await agent.start(chat);
    expect(run).toMatchObject({ status: 'succeeded', answer: 'credit-risk v1 is champion', steps: 2, usage: { input: 20, output: 10 } });
    const second = planner.seen[1]!.transcript;
    expect(second.map((i) => i.kind)).toEqual(['trigger', 'plan', 'result']);
    expect(second[2]).toMatchObject({ kind: 'result', callId: 'call_1', outcome: { status: 'executed' } });
    expect(await runs.get(run.id)).toMatchObject({ status: 'succeeded', answer: run.answer });
    const audit = await verifyAuditFile(fx.auditFile);
    expect(audit.ok).toBe(true);
  });

  it('gives every proposed call its own id, including parallel calls in one turn', async () => {
    const planner = scriptedPlanner([
      { kind: 'calls', text: null, calls: [{ name: 'registry_query', args: { action: 'list_models' } }, { name: 'check_data_quality', args: { dataset: 'credit-recent' } }], usage: usage() },
      answer('done'),
    ]);
    const { agent } = await agentWith(planner);
    const run = await agent.start(chat);
    const ids = run.transcript.flatMap((i) => (i.kind === 'plan' ? i.calls.map((c) => c.id) : []));
    expect(ids).toEqual(['call_1', 'call_2']);
    expect(run.transcript.filter((i) => i.kind === 'result').map((i) => (i.kind === 'result' ? i.callId : ''))).toEqual(['call_1', 'call_2']);
  });

  it('tells the model about an unknown tool and invalid arguments instead of crashing', async () => {
    const planner = scriptedPlanner([call('drop_table', {}), call('deploy_canary', { model: 'credit-risk', environment: 'production', trafficPercent: 'lots' }), answer('sorry')]);
    const { agent } = await agentWith(planner);
    const run = await agent.start(chat);
    // The canary it set out to start never ran: the run did not succeed.
    expect(run.status).toBe('failed');
    expect(run.summary?.failed.map((f) => f.tool)).toEqual(['drop_table', 'deploy_canary']);
    const results = planner.seen[2]!.transcript.filter((i) => i.kind === 'result');
    expect(results[0]).toMatchObject({ outcome: { status: 'invalid', error: expect.stringContaining('unknown tool "drop_table"') } });
    expect(results[1]).toMatchObject({ outcome: { status: 'invalid', issues: expect.arrayContaining([{ path: 'version', message: expect.any(String) }, { path: 'trafficPercent', message: expect.any(String) }]) } });
  });

  it('refuses the same call with the same arguments beyond the configured limit', async () => {
    const same = call('registry_query', { action: 'list_models' });
    const planner = scriptedPlanner([same, same, same, answer('ok')]);
    const { agent } = await agentWith(planner);
    const run = await agent.start(chat);
    const outcomes = run.transcript.flatMap((i) => (i.kind === 'result' ? [i.outcome.status] : []));
    expect(outcomes).toEqual(['executed', 'executed', 'refused']);
    const refused = run.transcript.filter((i) => i.kind === 'result').at(-1);
    expect(refused).toMatchObject({ outcome: { ruleId: 'loop.max-repeated-calls' } });
    expect(fx.backends.calls.filter((c) => c === 'registry.listModels')).toHaveLength(2);
  });

  it('stops at the step limit', async () => {
    const planner = scriptedPlanner(Array.from({ length: 20 }, (_, i) => call('registry_query', { action: 'list_versions', model: `m${i}` })));
    const { agent } = await agentWith(planner);
    const run = await agent.start(chat);
    expect(run.status).toBe('failed');
    expect(run.steps).toBe(limits.maxSteps);
    expect(run.error).toContain('step limit of 10');
  });

  it('stops when the token budget is used up and reports the tokens', async () => {
    const big = { kind: 'calls' as const, text: null, calls: [{ name: 'registry_query', args: { action: 'list_models' } }], usage: { input: 9_000, output: 2_000 } };
    const planner = scriptedPlanner([big, answer('never')]);
    const { agent } = await agentWith(planner);
    const run = await agent.start(chat);
    expect(run).toMatchObject({ status: 'failed', usage: { input: 9_000, output: 2_000 } });
    expect(run.error).toContain('token budget of 10000');
  });

  it('stops when the wall-clock budget is used up', async () => {
    const clock = manualClock();
    const planner = scriptedPlanner([
      (input) => {
        clock.advance(61_000);
        return call('registry_query', { action: 'list_models' });
      },
      answer('never'),
    ]);
    const { agent } = await agentWith(planner, { clock });
    const run = await agent.start(chat);
    expect(run.status).toBe('failed');
    expect(run.error).toContain('wall-clock budget');
  });

  it('tells the model when its reply was malformed and asks again', async () => {
    const planner = scriptedPlanner([new ModelBehaviorError('functionCall without a name'), answer('fixed')]);
    const { agent } = await agentWith(planner);
    const run = await agent.start(chat);
    expect(run.status).toBe('succeeded');
    expect(planner.seen[1]!.transcript.at(-1)).toMatchObject({ kind: 'note', text: expect.stringContaining('functionCall without a name') });
  });

  it('falls back to the runbook when the LLM fails on an alert run, and records the fallback', async () => {
    const llm = scriptedPlanner([new UpstreamError('gemini', '503 after 3 retries', { retryable: true })], 'gemini:test');
    const runbook = scriptedPlanner([answer('runbook done')], 'runbook:drift-retrain');
    const { agent } = await agentWith(llm, { fallbackFor: () => runbook });
    const alert: Trigger = { kind: 'alert', principal: { id: 'agent:alertmanager', roles: [] }, text: 'drift', data: {}, alertName: 'ModelDriftDetected' };
    const run = await agent.start(alert);
    expect(run).toMatchObject({ status: 'succeeded', planner: 'runbook:drift-retrain', fallback: { from: 'gemini:test', reason: expect.stringContaining('503') } });
    const kinds = readFileSync(fx.auditFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l).kind);
    expect(kinds).toContain('planner.fallback');
  });

  it('fails the run with the reason when the LLM fails and there is no runbook to fall back to', async () => {
    const llm = scriptedPlanner([new UpstreamError('gemini', '500 after 3 retries', { retryable: true })], 'gemini:test');
    const { agent } = await agentWith(llm);
    const run = await agent.start(chat);
    expect(run.status).toBe('failed');
    expect(run.error).toContain('500 after 3 retries');
  });

  it('reports a call that needs approval to the model without executing it', async () => {
    const planner = scriptedPlanner([call('deploy_canary', { model: 'credit-risk', version: '1', environment: 'production', trafficPercent: 50 }), answer('needs approval')]);
    const { agent } = await agentWith(planner);
    const run = await agent.start(chat);
    expect(run.transcript.find((i) => i.kind === 'result')).toMatchObject({ outcome: { status: 'pending_approval' } });
    expect(fx.backends.calls.some((c) => c.startsWith('deployer.'))).toBe(false);
  });

  it('loads a run stored by schema version 1', () => {
    const fixture = JSON.parse(readFileSync(new URL('../../fixtures/runs/v1-run.json', import.meta.url), 'utf8'));
    const run = upgradeRun(fixture, 'v1-run.json');
    expect(run).toMatchObject({ schemaVersion: 1, status: 'succeeded', trigger: { kind: 'chat' } });
    expect(() => upgradeRun({ ...fixture, schemaVersion: 99 }, 'x.json')).toThrow(/schema version 99 is not supported/);
  });
});
