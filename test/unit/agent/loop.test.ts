import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { allTools } from '../../../tools/index.js';
import { RunHandedOver, type AgentDeps } from '../../../src/agent/loop.js';
import type { Planner } from '../../../src/agent/planner.js';
import type { Trigger } from '../../../src/agent/run.js';
import { upgradeRun } from '../../../src/agent/run-store.js';
import { verifyAuditFile } from '../../../src/audit/index.js';
import { ModelBehaviorError, UpstreamError, UserError } from '../../../src/errors.js';
import { createRunbookPlanner } from '../../../src/planners/index.js';
import { loadRunbooks, mitigationSteps, runbookFor } from '../../../src/runbooks/index.js';
import { promptsDir } from '../../../src/paths.js';
import { agentFixture } from '../../support/agent-fixture.js';
import { type GateFixture } from '../../support/gate-fixture.js';
import { manualClock } from '../../support/manual-clock.js';
import { version } from '../../support/memory-backends.js';
import { answer, call, scriptedPlanner, usage } from '../../support/scripted-planner.js';

const chat: Trigger = {
  kind: 'chat',
  principal: { id: 'user:alice', roles: [] },
  text: 'what is the champion?',
  data: { question: 'what is the champion?' },
};
const limits = { maxSteps: 10, maxWallMs: 60_000, maxTokens: 10_000, maxRepeatedCalls: 2 };

let fx: GateFixture;
afterEach(async () => fx?.cleanup());

async function agentWith(planner: Planner, overrides: Partial<AgentDeps> = {}) {
  const made = await agentFixture({ planner, agent: { limits, ...overrides } });
  fx = made.fx;
  return { agent: made.agent, runs: made.runs };
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
    const planner = scriptedPlanner([
      call('registry_query', { action: 'list_models' }),
      answer('credit-risk v1 is champion'),
    ]);
    const { agent, runs } = await agentWith(planner);
    const run = await agent.start(chat);
    expect(run).toMatchObject({
      status: 'succeeded',
      answer: 'credit-risk v1 is champion',
      steps: 2,
      usage: { input: 20, output: 10 },
    });
    const second = planner.seen[1]!.transcript;
    expect(second.map((i) => i.kind)).toEqual(['trigger', 'plan', 'result']);
    expect(second[2]).toMatchObject({ kind: 'result', callId: 'call_1', outcome: { status: 'executed' } });
    expect(await runs.get(run.id)).toMatchObject({ status: 'succeeded', answer: run.answer });
    const audit = await verifyAuditFile(fx.auditFile);
    expect(audit.ok).toBe(true);
  });

  it('gives every proposed call its own id, including parallel calls in one turn', async () => {
    const planner = scriptedPlanner([
      {
        kind: 'calls',
        text: null,
        calls: [
          { name: 'registry_query', args: { action: 'list_models' } },
          { name: 'check_data_quality', args: { dataset: 'credit-recent' } },
        ],
        usage: usage(),
      },
      answer('done'),
    ]);
    const { agent } = await agentWith(planner);
    const run = await agent.start(chat);
    const ids = run.transcript.flatMap((i) => (i.kind === 'plan' ? i.calls.map((c) => c.id) : []));
    expect(ids).toEqual(['call_1', 'call_2']);
    expect(run.transcript.filter((i) => i.kind === 'result').map((i) => (i.kind === 'result' ? i.callId : ''))).toEqual(
      ['call_1', 'call_2'],
    );
  });

  it('tells the model about an unknown tool and invalid arguments instead of crashing', async () => {
    const planner = scriptedPlanner([
      call('drop_table', {}),
      call('deploy_canary', { model: 'credit-risk', environment: 'production', trafficPercent: 'lots' }),
      answer('sorry'),
    ]);
    const { agent } = await agentWith(planner);
    const run = await agent.start(chat);
    // The canary it set out to start never ran: the run did not succeed.
    expect(run.status).toBe('failed');
    expect(run.summary?.failed.map((f) => f.tool)).toEqual(['drop_table', 'deploy_canary']);
    const results = planner.seen[2]!.transcript.filter((i) => i.kind === 'result');
    expect(results[0]).toMatchObject({
      outcome: { status: 'invalid', error: expect.stringContaining('unknown tool "drop_table"') },
    });
    expect(results[1]).toMatchObject({
      outcome: {
        status: 'invalid',
        issues: expect.arrayContaining([
          { path: 'version', message: expect.any(String) },
          { path: 'trafficPercent', message: expect.any(String) },
        ]),
      },
    });
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
    const planner = scriptedPlanner(
      Array.from({ length: 20 }, (_, i) => call('registry_query', { action: 'list_versions', model: `m${i}` })),
    );
    const { agent } = await agentWith(planner);
    const run = await agent.start(chat);
    expect(run.status).toBe('failed');
    expect(run.steps).toBe(limits.maxSteps);
    expect(run.error).toContain('step limit of 10');
  });

  it('stops when the token budget is used up and reports the tokens', async () => {
    const big = {
      kind: 'calls' as const,
      text: null,
      calls: [{ name: 'registry_query', args: { action: 'list_models' } }],
      usage: { input: 9_000, output: 2_000 },
    };
    const planner = scriptedPlanner([big, answer('never')]);
    const { agent } = await agentWith(planner);
    const run = await agent.start(chat);
    expect(run).toMatchObject({ status: 'failed', usage: { input: 9_000, output: 2_000 } });
    expect(run.error).toContain('token budget of 10000');
  });

  it('stops when the wall-clock budget is used up', async () => {
    const clock = manualClock();
    const planner = scriptedPlanner([
      () => {
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
    expect(planner.seen[1]!.transcript.at(-1)).toMatchObject({
      kind: 'note',
      text: expect.stringContaining('functionCall without a name'),
    });
  });

  it('falls back to the runbook when the LLM fails on an alert run, and records the fallback', async () => {
    const llm = scriptedPlanner(
      [new UpstreamError('gemini', '503 after 3 retries', { retryable: true })],
      'gemini:test',
    );
    const runbook = scriptedPlanner([answer('runbook done')], 'runbook:drift-retrain');
    const { agent } = await agentWith(llm, { fallbackFor: () => runbook });
    const alert: Trigger = {
      kind: 'alert',
      principal: { id: 'agent:alertmanager', roles: [] },
      text: 'drift',
      data: {},
      alertName: 'ModelDriftDetected',
    };
    const run = await agent.start(alert);
    expect(run).toMatchObject({
      status: 'succeeded',
      planner: 'runbook:drift-retrain',
      fallback: { from: 'gemini:test', reason: expect.stringContaining('503') },
    });
    const kinds = readFileSync(fx.auditFile, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l).kind);
    expect(kinds).toContain('planner.fallback');
  });

  it('fails the run with the reason when the LLM fails and there is no runbook to fall back to', async () => {
    const llm = scriptedPlanner(
      [new UpstreamError('gemini', '500 after 3 retries', { retryable: true })],
      'gemini:test',
    );
    const { agent } = await agentWith(llm);
    const run = await agent.start(chat);
    expect(run.status).toBe('failed');
    expect(run.error).toContain('500 after 3 retries');
  });

  it('reports a call that needs approval to the model without executing it', async () => {
    const planner = scriptedPlanner([
      call('deploy_canary', { model: 'credit-risk', version: '1', environment: 'production', trafficPercent: 50 }),
      answer('needs approval'),
    ]);
    const { agent } = await agentWith(planner);
    const run = await agent.start(chat);
    expect(run.transcript.find((i) => i.kind === 'result')).toMatchObject({ outcome: { status: 'pending_approval' } });
    expect(fx.backends.calls.some((c) => c.startsWith('deployer.'))).toBe(false);
  });

  it('ends refused when the gate denied a call, with the rule in the reason, whatever the answer says', async () => {
    const planner = scriptedPlanner([
      () => call('deploy_canary', { model: 'credit-risk', version: '2', environment: 'production', trafficPercent: 1 }),
      answer('The canary could not start.'),
    ]);
    const { agent } = await agentWith(planner);
    fx.backends.versions.push(version('credit-risk', '2', 0.48, ['auc']));
    const run = await agent.start(chat);
    expect(run.status).toBe('refused');
    expect(run.error).toMatch(
      /^refused: deploy_canary \(\[deny-failed-gates-in-production\] .*\(failed quality gates: auc 0\.48 < 0\.82\)\)$/,
    );
    expect(run.summary).toMatchObject({ refused: [expect.objectContaining({ tool: 'deploy_canary' })], executed: [] });
  });

  it('ends failed when a call with effects failed, and succeeded only when nothing did', async () => {
    const planner = scriptedPlanner([
      call('trigger_retrain', { model: 'credit-risk', dataset: 'credit-recent' }),
      answer('Retraining did not work.'),
    ]);
    const { agent } = await agentWith(planner);
    fx.backends.trainer.start = async () => {
      throw new Error('the trainer was closed');
    };
    const run = await agent.start(chat);
    expect(run).toMatchObject({ status: 'failed', error: 'failed: trigger_retrain (the trainer was closed)' });
  });

  it('ends needing attention, not succeeded, when the planner stops without an answer', async () => {
    const planner = scriptedPlanner([
      call('deployment_status', { model: 'credit-risk', environment: 'production' }),
      answer(''),
    ]);
    const { agent } = await agentWith(planner, { readOnlyTools: ['deployment_status'] });
    const run = await agent.start(chat);
    expect(run).toMatchObject({
      status: 'needs_attention',
      error: 'the planner stopped without an answer; what the run did: Changed nothing. Looked: deployment_status.',
    });
  });

  it('runs a call whose effect is not idempotent once per run: the same call again is refused, not a second job', async () => {
    const retrain = { model: 'credit-risk', dataset: 'credit-recent' };
    const planner = scriptedPlanner([
      call('trigger_retrain', retrain),
      call('trigger_retrain', retrain),
      call('trigger_retrain', { ...retrain, searchTrials: 2 }),
      answer('Retrained twice.'),
    ]);
    const { agent } = await agentWith(planner, { onceOnlyTools: ['trigger_retrain'] });
    const run = await agent.start(chat);
    const outcomes = run.transcript.flatMap((i) =>
      i.kind === 'result' || i.kind === 'wait'
        ? [`${i.name}:${i.outcome.status}${i.outcome.status === 'refused' ? `:${i.outcome.ruleId}` : ''}`]
        : [],
    );
    expect(outcomes.filter((o) => o !== 'trigger_retrain:waiting')).toEqual([
      'trigger_retrain:executed',
      'trigger_retrain:refused:loop.once-per-run',
      'trigger_retrain:executed',
    ]);
    expect(fx.backends.calls.filter((c) => c.startsWith('trainer.start'))).toHaveLength(2);
    expect((await fx.entries()).filter((e) => e.kind === 'call.repeated')).toEqual([
      expect.objectContaining({ data: expect.objectContaining({ tool: 'trigger_retrain', once: true }) }),
    ]);
  });

  it('flags an answer that claims an effect the transcript does not show, and audits the flag', async () => {
    const planner = scriptedPlanner([
      call('deployment_status', { model: 'credit-risk', environment: 'production' }),
      answer('I rolled back credit-risk in production; v1 serves everything.'),
    ]);
    const { agent } = await agentWith(planner, { readOnlyTools: ['deployment_status'] });
    const run = await agent.start(chat);
    // Not `succeeded`: nobody can take this answer at its word.
    expect(run).toMatchObject({
      status: 'needs_attention',
      error:
        'the answer claims what this run did not do (rollback); what it did: Changed nothing. Looked: deployment_status.',
    });
    expect(run.flags).toEqual([
      expect.objectContaining({
        claim: 'rollback',
        sentence: 'I rolled back credit-risk in production; v1 serves everything.',
      }),
    ]);
    expect(run.transcript.at(-1)).toMatchObject({
      kind: 'note',
      text: expect.stringMatching(
        /^Flagged: the answer claims what this run's transcript does not show .* What the transcript shows: Changed nothing\. Looked: deployment_status\./,
      ),
    });
    const entries = await fx.entries();
    expect(entries.find((e) => e.kind === 'run.flagged')?.data).toMatchObject({
      flags: [expect.objectContaining({ claim: 'rollback' })],
    });
    expect(entries.find((e) => e.kind === 'run.finished')?.data).toMatchObject({
      flags: 1,
      summary: 'Changed nothing. Looked: deployment_status.',
    });
  });

  it('needs a person when the planner cannot plan for want of configuration', async () => {
    const planner = scriptedPlanner(
      [new UserError('llm.provider is gemini but no API key is set', { code: 'config_invalid' })],
      'gemini:unconfigured',
    );
    const { agent } = await agentWith(planner);
    const run = await agent.start(chat);
    expect(run).toMatchObject({ status: 'needs_attention', error: expect.stringContaining('no API key is set') });
  });

  describe('mitigation first', () => {
    const degraded: Trigger = {
      kind: 'alert',
      principal: { id: 'agent:alertmanager', roles: [] },
      text: 'CanaryDegraded on credit-risk',
      alertName: 'CanaryDegraded',
      data: { labels: { alertname: 'CanaryDegraded', model: 'credit-risk', environment: 'production', version: '2' } },
    };
    async function mitigationFor() {
      const runbook = runbookFor(
        await loadRunbooks(
          join(promptsDir, 'runbooks'),
          allTools.map((t) => t.name),
        ),
        'CanaryDegraded',
      )!;
      return {
        runbook: runbook.id,
        planner: createRunbookPlanner(mitigationSteps(runbook)!, { name: 'runbook:canary-rollback:mitigation' }),
      };
    }

    it("rolls back before the LLM plans anything, and refuses the LLM's proposal to put the version back", async () => {
      const mitigation = await mitigationFor();
      const llm = scriptedPlanner(
        [
          call('deploy_canary', { model: 'credit-risk', version: '2', environment: 'production', trafficPercent: 5 }),
          answer('The rollback stands; re-deploying v2 was refused in this run.'),
        ],
        'gemini:test',
      );
      const { agent } = await agentWith(llm, {
        mitigationFor: () => mitigation,
        readOnlyTools: ['registry_query', 'deployment_status', 'check_data_quality'],
      });
      fx.backends.versions.push(version('credit-risk', '2', 0.87));
      fx.backends.splits.set('credit-risk/production', {
        model: 'credit-risk',
        environment: 'production',
        stableVersion: '1',
        canaryVersion: '2',
        canaryPercent: 5,
        lastKnownGoodVersion: '1',
      });
      const run = await agent.start(degraded);

      // The LLM's first look already shows the rollback done.
      expect(llm.seen[0]!.transcript.map((i) => i.kind)).toEqual(['trigger', 'plan', 'result', 'note']);
      expect(llm.seen[0]!.transcript[1]).toMatchObject({
        kind: 'plan',
        mitigation: true,
        calls: [{ name: 'rollback' }],
      });
      expect(fx.backends.calls.filter((c) => c.startsWith('deployer.'))).toEqual(['deployer.rollback:credit-risk']);
      expect(fx.backends.splits.get('credit-risk/production')).toMatchObject({
        canaryVersion: null,
        stableVersion: '1',
      });
      expect(run.mitigation).toMatchObject({ runbook: 'canary-rollback', status: 'done' });
      const refused = run.transcript.filter((i) => i.kind === 'result').at(-1);
      expect(refused).toMatchObject({
        name: 'deploy_canary',
        outcome: {
          status: 'refused',
          ruleId: 'loop.mitigation-guard',
          reason: expect.stringContaining(
            "would put credit-risk v2 back on traffic in production, undoing this run's mitigation",
          ),
        },
      });
      expect(run.status).toBe('refused');
      const kinds = (await fx.entries()).map((e) => e.kind);
      expect(kinds).toContain('run.mitigated');
      expect(kinds).toContain('call.undoes_mitigation');
    });

    it('lets the LLM look and act on other things after the mitigation', async () => {
      const mitigation = await mitigationFor();
      const llm = scriptedPlanner(
        [
          call('deployment_status', { model: 'credit-risk', environment: 'production' }),
          answer('Rolled back v2; v1 serves 100%.'),
        ],
        'gemini:test',
      );
      const { agent } = await agentWith(llm, { mitigationFor: () => mitigation, readOnlyTools: ['deployment_status'] });
      fx.backends.splits.set('credit-risk/production', {
        model: 'credit-risk',
        environment: 'production',
        stableVersion: '1',
        canaryVersion: '2',
        canaryPercent: 5,
        lastKnownGoodVersion: '1',
      });
      const run = await agent.start(degraded);
      expect(run).toMatchObject({ status: 'succeeded', planner: 'gemini:test' });
      expect(run.flags).toBeUndefined();
      expect(run.summary?.text).toMatch(
        /^Changed: rollback \(credit-risk production: all traffic on v1 \(last known good\); v2 \(5%\) taken off traffic\)\. Looked: deployment_status\.$/,
      );
    });
  });

  it('loads a run stored by schema version 1', () => {
    const fixture = JSON.parse(readFileSync(new URL('../../fixtures/runs/v1-run.json', import.meta.url), 'utf8'));
    const run = upgradeRun(fixture, 'v1-run.json');
    expect(run).toMatchObject({ schemaVersion: 1, status: 'succeeded', trigger: { kind: 'chat' } });
    expect(() => upgradeRun({ ...fixture, schemaVersion: 99 }, 'x.json')).toThrow(/schema version 99 is not supported/);
  });

  it('loads a run stored before summaries, flags and mitigations, and one stored with them', () => {
    const waiting = upgradeRun(
      JSON.parse(readFileSync(new URL('../../fixtures/runs/v1-run-waiting.json', import.meta.url), 'utf8')),
      'v1-run-waiting.json',
    );
    expect(waiting.summary).toBeUndefined();
    const honest = upgradeRun(
      JSON.parse(readFileSync(new URL('../../fixtures/runs/v1-run-needs-attention.json', import.meta.url), 'utf8')),
      'v1-run-needs-attention.json',
    );
    expect(honest).toMatchObject({
      status: 'needs_attention',
      summary: { text: expect.any(String) },
      flags: [],
      mitigation: { status: 'done' },
    });
  });
});
