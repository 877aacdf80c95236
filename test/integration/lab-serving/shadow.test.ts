// Shadow deployments on the lab's real serving stack: deploy_shadow through the gate and the
// shipped policy, live requests over HTTP to the model server with their true labels sent
// back later, and the analysis read through deployment_status.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { allTools, findTool, type Backends, type Shadow } from '../../../tools/index.js';
import { openFileAuditLog, type AuditLog } from '../../../src/audit/index.js';
import { systemClock } from '../../../src/clock.js';
import { createFileExecutions, createGate, type Gate, type GateOutcome } from '../../../src/gate/index.js';
import { createPolicyStore } from '../../../src/policy/index.js';
import { defaultPolicyDir } from '../../../src/paths.js';
import { createTrafficSimulator } from '../../../src/backends/local/traffic-simulator.js';
import { eventually } from '../../support/eventually.js';
import { cleanupTraining, createLab, MODEL, type Lab } from './lab-fixture.js';
import { createStack, type Stack } from './serving-stack.js';

afterAll(cleanupTraining);

const AGENT = { id: 'agent:runbook', roles: [] };

describe('a shadow on the lab', () => {
  let lab: Lab;
  let stack: Stack;
  let dir: string;
  let audit: AuditLog;
  let backends: Backends;
  let stable: string;
  let worse: string;

  async function gateWith(executionsDir: string): Promise<Gate> {
    const policy = await createPolicyStore({
      files: [join(defaultPolicyDir, 'default.yaml')],
      knownTools: allTools.map((t) => t.name),
    });
    return createGate({
      tools: allTools,
      backends,
      policy: (req) => policy.evaluate(req),
      audit,
      clock: systemClock,
      executions: createFileExecutions(executionsDir),
    });
  }
  const call = (gate: Gate, tool: string, args: Record<string, unknown>, callId: string) =>
    gate.call({ runId: 'run-shadow', callId, principal: AGENT, tool, args });
  const executed = (outcome: GateOutcome) => {
    expect(outcome, JSON.stringify(outcome)).toMatchObject({ status: 'executed' });
    return (outcome as { output: unknown }).output;
  };
  const shadowNow = async () => (await stack.deployer.shadows(MODEL, 'production')).find((s) => s.version === worse)!;
  const historyOf = async (action: string) => (await stack.deployer.history()).filter((h) => h.action === action);

  beforeEach(async () => {
    lab = await createLab(systemClock);
    dir = await mkdtemp(join(tmpdir(), 'shadow-'));
    stable = await lab.register(lab.outcome.artifact);
    // The same model with its weights turned around: it ranks applicants backwards.
    worse = await lab.register({ ...lab.outcome.artifact, weights: lab.outcome.artifact.weights.map((w) => -w) });
    stack = await createStack(lab, systemClock, { analysis: { minRequestsPerStep: 200, minLabelsPerStep: 100 } });
    await stack.deployer.serve(MODEL, 'production', stable);
    audit = await openFileAuditLog({ file: join(dir, 'audit.jsonl'), clock: systemClock });
    const unused = () => {
      throw new Error('not used by shadow tests');
    };
    backends = {
      registry: lab.registry,
      deployer: stack.deployer,
      trainer: { start: unused, lookup: unused, get: unused, waitFor: unused },
      dataQuality: { check: unused, verdict: unused },
    };
  });
  afterEach(async () => {
    await stack.close();
    await audit.close();
    await lab.cleanup();
    await rm(dir, { recursive: true, force: true });
  });

  it('runs in production without approval, answers every request from stable, and judges the shadow by its scores and labels', async () => {
    const gate = await gateWith(join(dir, 'executions'));
    const args = { model: MODEL, version: worse, environment: 'production', mirrorPercent: 50 };
    const started = await call(gate, 'deploy_shadow', args, 'c1');
    expect(started).toMatchObject({ status: 'executed', decision: { effect: 'allow', ruleId: 'allow-shadow' } });
    expect(executed(started)).toMatchObject({
      version: worse,
      mirrorPercent: 50,
      status: 'running',
      analysis: { verdict: 'inconclusive', mirroredRequests: 0 },
    });

    // Live traffic with each row's true outcome sent back shortly after its answer.
    const sim = createTrafficSimulator({
      url: stack.server.url,
      model: MODEL,
      rows: lab.servingRows,
      feedbackDelayMs: 5,
      concurrency: 8,
    });
    const counts = await sim.send(1200);
    await sim.stop();
    expect(counts.failed).toBe(0);
    // Every answer came from the stable version: the shadow answered nobody.
    expect(counts.byVersion).toEqual({ [stable]: 1200 });
    expect(stack.stats.window(MODEL, 'production', worse).requests).toBe(0);

    const judged = await eventually('the shadow judged on its labels', async () => {
      const s = await shadowNow();
      return s.analysis && s.analysis.labelled >= 400 && s.analysis.verdict !== 'inconclusive' ? s : undefined;
    });
    const analysis = judged.analysis!;
    // About half of 1,200 requests were mirrored, each paired with stable's score on the same row.
    expect(analysis.mirroredRequests).toBeGreaterThan(450);
    expect(analysis.mirroredRequests).toBeLessThan(750);
    expect(analysis.stableVersion).toBe(stable);
    expect(analysis.verdict).toBe('failed');
    const byCheck = Object.fromEntries(analysis.checks.map((c) => [c.check, c]));
    expect(byCheck.shadow_requests?.passed).toBe(true);
    expect(byCheck.score_psi).toBeDefined();
    expect(byCheck.accuracy).toMatchObject({ passed: false });
    expect(byCheck.accuracy!.canary).toBeLessThan(byCheck.accuracy!.stable - 0.1);
    // Most applicants are scored below 0.5 by both; on the rest they disagree.
    expect(analysis.agreement!).toBeLessThan(0.85);

    // deployment_status shows it, through the gate like every read.
    const status = executed(await call(gate, 'deployment_status', { model: MODEL, environment: 'production' }, 'c2'));
    const view = (status as { views: { shadows: Shadow[]; traffic: unknown[] }[] }).views[0]!;
    expect(view.traffic).toEqual([{ version: stable, percent: 100, role: 'stable' }]);
    expect(view.shadows).toEqual([
      expect.objectContaining({
        version: worse,
        status: 'running',
        analysis: expect.objectContaining({ verdict: 'failed' }),
      }),
    ]);
    expect((await call(gate, 'deployment_status', { model: MODEL }, 'c3')) as { summary: string }).toMatchObject({
      summary: expect.stringContaining(
        `shadow v${worse} mirrors 50% of stable v${stable}'s requests, running; failed:`,
      ),
    });

    // Ended: no more copies, and the last analysis is kept.
    const ended = executed(
      await call(gate, 'end_shadow', { model: MODEL, environment: 'production', reason: 'it ranks backwards' }, 'c4'),
    );
    expect(ended).toMatchObject({ noop: false, shadow: { status: 'ended', analysis: { verdict: 'failed' } } });
    const before = (await shadowNow()).analysis!.mirroredRequests;
    const more = createTrafficSimulator({ url: stack.server.url, model: MODEL, rows: lab.servingRows });
    await more.send(200);
    await more.stop();
    expect(stack.stats.shadowWindow(MODEL, 'production', worse, stable).requests).toBe(before);
    expect(
      executed(await call(gate, 'end_shadow', { model: MODEL, environment: 'production', reason: 'again' }, 'c5')),
    ).toMatchObject({ noop: true, shadow: null });
  });

  it('starts once under one idempotency key, however often the call is repeated or its record lost', async () => {
    const args = { model: MODEL, version: worse, environment: 'production', mirrorPercent: 20 };
    const gate = await gateWith(join(dir, 'executions'));
    const first = executed(await call(gate, 'deploy_shadow', args, 'same')) as Shadow;
    // The same call again: answered from its execution record.
    expect(executed(await call(gate, 'deploy_shadow', args, 'same'))).toMatchObject({ startedAt: first.startedAt });
    // A gate that lost that record (another worker, a wiped store) executes it again under the same key: the deployer dedupes.
    const other = await gateWith(join(dir, 'executions-lost'));
    expect(executed(await call(other, 'deploy_shadow', args, 'same'))).toMatchObject({ startedAt: first.startedAt });
    expect(await historyOf('shadow_start')).toHaveLength(1);
    // What the key did, as the gate asks after a crash.
    const tool = findTool('deploy_shadow')!;
    const found = await tool.lookup!(tool.input.parse(args), {
      backends,
      principal: AGENT.id,
      idempotencyKey: 'run-shadow:same',
    });
    expect(found).toMatchObject({ state: 'ended', output: { version: worse, mirrorPercent: 20, status: 'running' } });
    // The key names this shadow only: another request under it changes nothing.
    await expect(
      stack.deployer.startShadow({
        ...args,
        environment: 'production',
        mirrorPercent: 30,
        requestedBy: 'x',
        idempotencyKey: 'run-shadow:same',
      }),
    ).rejects.toThrow(/already used .* for another request/);
    expect((await shadowNow()).mirrorPercent).toBe(20);

    // Ending, too, is once per key.
    const end = { model: MODEL, environment: 'production' as const, version: worse, reason: 'done', requestedBy: 'x' };
    await stack.deployer.endShadow({ ...end, idempotencyKey: 'end-1' });
    await stack.deployer.endShadow({ ...end, idempotencyKey: 'end-1' });
    expect(await historyOf('shadow_end')).toHaveLength(1);
    expect(await stack.deployer.lookup('end-1')).toMatchObject({ state: 'ended', work: { kind: 'shadow_end' } });
  });

  it('keeps running shadows across a restart of the deployer, and refuses what cannot be shadowed', async () => {
    await stack.deployer.startShadow({
      model: MODEL,
      version: worse,
      environment: 'production',
      mirrorPercent: 10,
      requestedBy: 'x',
    });
    await stack.close();
    stack = await createStack(lab, systemClock);
    expect(stack.deployer.currentShadows(MODEL, 'production')).toEqual([{ version: worse, mirrorPercent: 10 }]);
    const refused = (version: string) =>
      stack.deployer.startShadow({
        model: MODEL,
        version,
        environment: 'production',
        mirrorPercent: 10,
        requestedBy: 'x',
      });
    await expect(refused(stable)).rejects.toThrow(/already serves as the stable version/);
    const failedGates = await lab.register(lab.outcome.artifact, { promotable: false });
    await expect(refused(failedGates)).rejects.toThrow(/failed its quality gates/);
    // The shadowed version becomes the stable one: its shadow ends, with nothing left to mirror.
    await stack.deployer.serve(MODEL, 'production', worse);
    expect(stack.deployer.currentShadows(MODEL, 'production')).toEqual([]);
    expect(await stack.deployer.shadows(MODEL, 'production')).toEqual([
      expect.objectContaining({
        version: worse,
        status: 'ended',
        reason: expect.stringMatching(/served as the stable version/),
      }),
    ]);
  });
});
