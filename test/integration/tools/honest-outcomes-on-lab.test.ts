// Issue 12's honest outcomes, end to end on the local lab: the real runtime (gate, shipped
// policy, runbooks, fsync'd audit log), the real lab (registry, deployer, data checks), and
// Gemini's wire protocol from a local server where an LLM is configured.
import { mkdtempSync, rmSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Run, Trigger } from '../../../src/agent/run.js';
import { readAuditEntries, verifyAuditFile } from '../../../src/audit/index.js';
import { generateCreditRows, openLocalLab, writeDataset, type LocalLab } from '../../../src/backends/local/index.js';
import { loadConfig } from '../../../src/app/config.js';
import { genericAlertTrigger } from '../../../src/intake/generic-alert.js';
import { silentLogger } from '../../../src/logger.js';
import { createRuntime, type Runtime } from '../../../src/app/runtime.js';
import {
  functionCallReply,
  startFakeGeminiServer,
  textReply,
  type FakeGeminiServer,
} from '../../support/fake-gemini-server.js';

const MODEL = 'credit-risk';
const alice = { id: 'user:alice', roles: [] };
let home: string;
let lab: LocalLab;
let gemini: FakeGeminiServer;

/** A runtime over the shared lab, closed after `use` (one audit writer at a time). */
async function withRuntime<T>(llm: 'gemini' | 'runbook', use: (runtime: Runtime) => Promise<T>): Promise<T> {
  const env: Record<string, string> = { MLOPS_AGENT_HOME: home, MLOPS_AGENT_LOG_LEVEL: 'silent', MLOPS_AGENT_LLM: llm };
  if (llm === 'gemini') Object.assign(env, { GEMINI_API_KEY: 'test-key', GEMINI_BASE_URL: gemini.baseUrl });
  const runtime = await createRuntime({ config: loadConfig({ env, cwd: home }), logger: silentLogger, backends: lab });
  try {
    return await use(runtime);
  } finally {
    await runtime.close();
  }
}

const chat = (text: string): Trigger => ({ kind: 'chat', principal: alice, text, data: { question: text } });
const alert = (name: string, labels: Record<string, string>): Trigger =>
  genericAlertTrigger({ name, labels, summary: `${name} on ${labels.model ?? '?'}` }, 'user:operator').trigger;
const results = (run: Run) =>
  run.transcript.flatMap((i) => (i.kind === 'result' || i.kind === 'wait' ? [`${i.name}:${i.outcome.status}`] : []));
const outcomeOf = (run: Run, tool: string) =>
  run.transcript.flatMap((i) => (i.kind === 'result' && i.name === tool ? [i.outcome] : [])).at(-1);

beforeAll(async () => {
  home = mkdtempSync(join(tmpdir(), 'mlops-honest-'));
  gemini = await startFakeGeminiServer();
  const config = loadConfig({
    env: { MLOPS_AGENT_HOME: home, MLOPS_AGENT_LOG_LEVEL: 'silent', MLOPS_AGENT_LLM: 'runbook' },
    cwd: home,
  });
  // No traffic reaches a canary here: a step waits for it, holding the canary at 5%.
  lab = await openLocalLab({ config, logger: silentLogger, steps: [5, 25, 100], analysis: { stepTimeoutMs: 120_000 } });
  const train = generateCreditRows({ seed: 11, rows: 5000, startDate: '2026-01-01', days: 90 });
  await writeDataset(lab.dirs.datasets, 'credit-train', train);
  // 9% of incomes missing: data a careful engineer would not train on.
  const broken = generateCreditRows({ seed: 22, rows: 1000, startDate: '2026-06-01', days: 30 }).map((row, i) =>
    i % 11 === 0 ? { ...row, income: null } : row,
  );
  await writeDataset(lab.dirs.datasets, 'credit-broken', broken as typeof train);
  await lab.registry.createModel(MODEL, 'probability of default');
  const job = await lab.trainer.start({ model: MODEL, dataset: 'credit-train', params: {}, requestedBy: 'test:setup' });
  const v1 = (await lab.trainer.waitFor(job.jobId, { timeoutMs: 120_000 })).version!;
  const meta = (await lab.registry.getVersion(MODEL, v1))!;
  const artifact = await lab.registry.loadArtifact(MODEL, v1);
  // v2 is as good as v1; v3's AUC fails its gate.
  await lab.registry.registerVersion({ ...meta, createdBy: 'test:setup', artifact });
  const failing = meta.qualityGates.map((g) => (g.gate === 'auc' ? { ...g, value: 0.48, passed: false } : g));
  await lab.registry.registerVersion({
    ...meta,
    metrics: { ...meta.metrics, auc: 0.48 },
    qualityGates: failing,
    createdBy: 'test:setup',
    artifact,
  });
  await lab.deployer.serve(MODEL, 'production', v1);
}, 180_000);

afterAll(async () => {
  await lab?.close();
  await gemini?.close();
  if (home) rmSync(home, { recursive: true, force: true });
});

// One lab, one story: each test leaves production as it found it (v1 serving 100%).
describe('honest tools and outcomes on the local lab', { shuffle: false }, () => {
  it('answers a chat asking what serves in production from the serving view', async () => {
    gemini.script(
      functionCallReply([{ name: 'deployment_status', args: { model: MODEL, environment: 'production' } }]),
      textReply('credit-risk v1 serves 100% of production; no canary; the last known-good version is v1.'),
    );
    const before = gemini.requests.length;
    const run = await withRuntime('gemini', (rt) => rt.agent.start(chat('what serves credit-risk in production?')));
    expect(run).toMatchObject({ status: 'succeeded', planner: expect.stringMatching(/^gemini:/) });
    expect(run.flags).toBeUndefined();
    const view = (outcomeOf(run, 'deployment_status') as { output: { views: unknown[] } }).output.views[0];
    expect(view).toMatchObject({
      environment: 'production',
      served: true,
      stableVersion: '1',
      traffic: [{ version: '1', percent: 100, role: 'stable' }],
      canary: null,
      lastKnownGoodVersion: '1',
      pendingApprovals: [],
    });
    // What the model answered from: the view, as the tool's response in its next request.
    // (It reaches the model as data: the output's JSON inside the untrusted-data wrapping.)
    expect(JSON.stringify(gemini.requests[before + 1]!.body.contents)).toMatch(
      /<untrusted_data source=\\"tool_result:deployment_status\\">[^<]*\\"stableVersion\\": \\"1\\"/,
    );
    expect(run.summary?.text).toBe('Changed nothing. Looked: deployment_status.');
  });

  it('makes a rollback with nothing to roll back a no-op that says what serves and writes no history', async () => {
    const history = (await lab.deployer.history()).length;
    const outcome = await withRuntime('runbook', (rt) =>
      rt.gate.call({
        runId: null,
        callId: 'noop-1',
        principal: alice,
        tool: 'rollback',
        args: { model: MODEL, environment: 'production', reason: 'pager says so' },
      }),
    );
    expect(outcome).toMatchObject({
      status: 'executed',
      output: {
        noop: true,
        rolledBack: null,
        stableVersion: '1',
        noopReason:
          'nothing to roll back: no canary holds traffic and v1 (the last known-good version) serves 100% of production',
      },
      summary: expect.stringMatching(/^credit-risk production: no-op, nothing to roll back/),
    });
    expect((await lab.deployer.history()).length).toBe(history);
    const finished = (await readAuditEntries(join(home, 'audit.jsonl'))).filter(
      (e) => e.kind === 'execution.finished' && e.data.callId === 'noop-1',
    );
    expect(finished).toEqual([
      expect.objectContaining({
        data: expect.objectContaining({
          output: expect.objectContaining({ noop: true, noopReason: expect.stringContaining('nothing to roll back') }),
        }),
      }),
    ]);
  });

  it('rolls a degraded canary back first even with an LLM that proposes something else, and refuses putting it back', async () => {
    await lab.deployer.startCanary({
      model: MODEL,
      version: '2',
      environment: 'production',
      targetPercent: 5,
      requestedBy: 'user:alice',
      timeoutMs: 120_000,
    });
    expect(await lab.deployer.getSplit(MODEL, 'production')).toMatchObject({ canaryVersion: '2', canaryPercent: 5 });
    // The LLM would promote the canary instead.
    gemini.script(
      functionCallReply([
        { name: 'deploy_canary', args: { model: MODEL, version: '2', environment: 'production', trafficPercent: 100 } },
      ]),
      textReply('The canary was rolled back by the mitigation; promoting v2 was refused.'),
    );
    const before = gemini.requests.length;
    const run = await withRuntime('gemini', (rt) =>
      rt.agent.start(alert('CanaryDegraded', { model: MODEL, environment: 'production', version: '2' })),
    );

    expect(run.transcript[1]).toMatchObject({ kind: 'plan', mitigation: true, calls: [{ name: 'rollback' }] });
    expect(results(run)).toEqual(['rollback:executed', 'deploy_canary:refused']);
    // Gemini was first asked after the rollback had executed.
    expect(JSON.stringify(gemini.requests[before]!.body)).toContain('taken off traffic');
    expect(await lab.deployer.getSplit(MODEL, 'production')).toMatchObject({
      stableVersion: '1',
      canaryVersion: null,
      canaryPercent: 0,
    });
    expect((await lab.deployer.history()).at(-1)).toMatchObject({ action: 'rollback', by: 'agent:alerts' });
    expect(outcomeOf(run, 'deploy_canary')).toMatchObject({
      ruleId: 'loop.mitigation-guard',
      reason: expect.stringContaining("undoing this run's mitigation"),
    });
    expect(run).toMatchObject({ status: 'refused', mitigation: { runbook: 'canary-rollback', status: 'done' } });
  });

  it('refuses a production canary of a version that failed its AUC gate, naming the rule and the figure', async () => {
    gemini.script(
      functionCallReply([
        { name: 'deploy_canary', args: { model: MODEL, version: '3', environment: 'production', trafficPercent: 1 } },
      ]),
      textReply('v3 may not go to production.'),
    );
    const run = await withRuntime('gemini', (rt) => rt.agent.start(chat('canary v3 at 1%')));
    expect(run.status).toBe('refused');
    expect(outcomeOf(run, 'deploy_canary')).toMatchObject({
      status: 'refused',
      ruleId: 'deny-failed-gates-in-production',
      reason: expect.stringMatching(/\(failed quality gates: auc 0\.48 < 0\.82\)$/),
    });
    expect(run.error).toContain('deny-failed-gates-in-production');
  });

  it('answers a model nobody registered as not found, never as a policy refusal', async () => {
    const outcome = await withRuntime('runbook', (rt) =>
      rt.gate.call({
        runId: null,
        callId: 'nf-1',
        principal: alice,
        tool: 'rollback',
        args: { model: 'fraud-score', environment: 'production', reason: 'pager says so' },
      }),
    );
    expect(outcome).toMatchObject({
      status: 'invalid',
      code: 'not_found',
      error: 'model "fraud-score" is not in the registry (known: credit-risk)',
    });
    const kinds = (await readAuditEntries(join(home, 'audit.jsonl')))
      .filter((e) => e.data.callId === 'nf-1')
      .map((e) => e.kind);
    expect(kinds).toEqual(['call.proposed', 'call.not_found']);
  });

  it('ends needs_attention for an alert no runbook answers when no LLM is configured', async () => {
    const run = await withRuntime('runbook', (rt) =>
      rt.agent.start(alert('DiskAlmostFull', { model: MODEL, environment: 'production' })),
    );
    expect(run).toMatchObject({
      status: 'needs_attention',
      planner: 'none',
      answer: expect.stringMatching(/^No runbook answers alert "DiskAlmostFull" and no LLM is configured/),
    });
    expect(results(run)).toEqual([]);
  });

  it('ends needs_attention when a label the runbook needs is missing, and failed when its check fails', async () => {
    await withRuntime('runbook', async (rt) => {
      const missing = await rt.agent.start(alert('ModelDriftDetected', { model: MODEL, environment: 'production' }));
      expect(missing).toMatchObject({
        status: 'needs_attention',
        answer: expect.stringMatching(/cannot run step check: .*dataset/),
      });
      const failed = await rt.agent.start(
        alert('ModelDriftDetected', { model: MODEL, environment: 'production', dataset: 'credit-nowhere' }),
      );
      expect(results(failed)).toEqual(['check_data_quality:failed']);
      expect(failed).toMatchObject({
        status: 'failed',
        error: expect.stringMatching(/^failed: check_data_quality \(dataset "credit-nowhere" not found/),
      });
    });
  });

  it('stops a drift run on broken data for a person, with the findings, training nothing', async () => {
    const versions = (await lab.registry.listVersions(MODEL)).length;
    const run = await withRuntime('runbook', (rt) =>
      rt.agent.start(
        alert('ModelDriftDetected', { model: MODEL, environment: 'production', dataset: 'credit-broken' }),
      ),
    );
    expect(results(run)).toEqual(['check_data_quality:executed']);
    expect(run.status).toBe('needs_attention');
    expect(run.answer).toMatch(/stopped at step broken_data for a person/);
    expect(run.answer).toMatch(
      /- check: hard rule income\.nulls \(.*contracts\/credit\.yaml:\d+\): \d+ of 1000 rows have no "income"/,
    );
    expect((await lab.registry.listVersions(MODEL)).length).toBe(versions);
  });

  it('fails a rollback with no earlier good version to return to, naming the cause and changing nothing', async () => {
    // A second model whose last known-good version was removed from the registry (a retention job).
    const meta = (await lab.registry.getVersion(MODEL, '1'))!;
    const artifact = await lab.registry.loadArtifact(MODEL, '1');
    await lab.registry.createModel('fraud-score', 'fraud');
    for (let i = 0; i < 2; i++)
      await lab.registry.registerVersion({ ...meta, model: 'fraud-score', createdBy: 'test:setup', artifact });
    await lab.deployer.serve('fraud-score', 'production', '1');
    await lab.deployer.startCanary({
      model: 'fraud-score',
      version: '2',
      environment: 'production',
      targetPercent: 5,
      requestedBy: 'user:alice',
      timeoutMs: 120_000,
    });
    await rm(join(lab.dirs.registry, 'fraud-score', 'versions', '1'), { recursive: true });
    // The canary's first step is on record before we count.
    while (!(await lab.deployer.history()).some((h) => h.model === 'fraud-score' && h.action === 'canary_step'))
      await new Promise((r) => setTimeout(r, 10));
    const history = (await lab.deployer.history()).length;

    const outcome = await withRuntime('runbook', (rt) =>
      rt.gate.call({
        runId: null,
        callId: 'nogood-1',
        principal: alice,
        tool: 'rollback',
        args: { model: 'fraud-score', environment: 'production', reason: 'pager says so' },
      }),
    );
    expect(outcome).toMatchObject({
      status: 'failed',
      error:
        'no earlier good version to return to: the last known-good version v1 is not in the registry; nothing was changed',
    });
    expect(await lab.deployer.getSplit('fraud-score', 'production')).toMatchObject({
      canaryVersion: '2',
      canaryPercent: 5,
    });
    expect((await lab.deployer.history()).length).toBe(history);
    expect(await verifyAuditFile(join(home, 'audit.jsonl'))).toMatchObject({ ok: true });
  });
});
