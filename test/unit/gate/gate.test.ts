import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it, onTestFinished } from 'vitest';
import { verifyAuditFile } from '../../../src/audit/index.js';
import { gateFixture, type GateFixture } from '../../support/gate-fixture.js';
import { version } from '../../support/memory-backends.js';

const agent = { id: 'agent:alert', roles: [] };
let fx: GateFixture;
afterEach(async () => fx?.cleanup());

describe('the gate', () => {
  it('executes an allowed read and records proposal, decision, start and finish before returning', async () => {
    fx = await gateFixture();
    const outcome = await fx.gate.call({
      runId: 'r1',
      callId: 'c1',
      principal: agent,
      tool: 'registry_query',
      args: { action: 'list_models' },
    });
    expect(outcome.status).toBe('executed');
    if (outcome.status !== 'executed') return;
    expect(outcome.summary).toContain('credit-risk');
    const kinds = (await fx.entries()).map((e) => e.kind);
    expect(kinds).toEqual(['call.proposed', 'policy.decision', 'execution.started', 'execution.finished']);
    expect(await verifyAuditFile(fx.auditFile)).toMatchObject({ ok: true, entries: 4 });
  });

  it('refuses a production canary above 5% without approval and never touches the deployer', async () => {
    fx = await gateFixture();
    fx.backends.versions.push(version('credit-risk', '2', 0.88));
    const outcome = await fx.gate.call({
      runId: 'r1',
      callId: 'c1',
      principal: agent,
      tool: 'deploy_canary',
      args: { model: 'credit-risk', version: '2', environment: 'production', trafficPercent: 25 },
    });
    expect(outcome.status).toBe('pending_approval');
    if (outcome.status !== 'pending_approval') return;
    expect(outcome.decision.effect).toBe('require_approval');
    expect(outcome.decision.approval?.roles.length).toBeGreaterThan(0);
    expect(fx.backends.calls.filter((c) => c.startsWith('deployer.startCanary'))).toEqual([]);
    expect((await fx.entries()).map((e) => e.kind)).not.toContain('execution.started');
  });

  it('allows a 5% production canary of a version that passed its gates', async () => {
    fx = await gateFixture();
    fx.backends.versions.push(version('credit-risk', '2', 0.88));
    const outcome = await fx.gate.call({
      runId: 'r1',
      callId: 'c1',
      principal: agent,
      tool: 'deploy_canary',
      args: { model: 'credit-risk', version: '2', environment: 'production', trafficPercent: 5 },
    });
    expect(outcome.status).toBe('executed');
    expect(fx.backends.calls).toContain('deployer.startCanary:2@5');
    const decision = (await fx.entries()).find((e) => e.kind === 'policy.decision')!;
    expect(decision.data).toMatchObject({
      risk: { environment: 'production', trafficPercent: 5, qualityDelta: expect.closeTo(0.03, 5) },
    });
  });

  it('denies any production traffic to a version that failed a quality gate, even 1%', async () => {
    fx = await gateFixture();
    fx.backends.versions.push(version('credit-risk', '2', 0.79, ['auc']));
    const outcome = await fx.gate.call({
      runId: 'r1',
      callId: 'c1',
      principal: agent,
      tool: 'deploy_canary',
      args: { model: 'credit-risk', version: '2', environment: 'production', trafficPercent: 1 },
    });
    expect(outcome.status).toBe('refused');
    if (outcome.status !== 'refused') return;
    expect(outcome.decision.ruleId).toBeTruthy();
    expect(outcome.decision.reason).toMatch(/quality gate/i);
    expect(fx.backends.calls.some((c) => c.startsWith('deployer.'))).toBe(false);
  });

  it('runs a production shadow at any share without approval, and once under one key', async () => {
    fx = await gateFixture();
    fx.backends.versions.push(version('credit-risk', '2', 0.88));
    const call = () =>
      fx.gate.call({
        runId: 'r1',
        callId: 'c1',
        principal: agent,
        tool: 'deploy_shadow',
        args: { model: 'credit-risk', version: '2', environment: 'production', mirrorPercent: 100 },
      });
    const outcome = await call();
    expect(outcome).toMatchObject({ status: 'executed', decision: { effect: 'allow', ruleId: 'allow-shadow' } });
    expect(outcome).toMatchObject({ risk: { trafficPercent: 0, promotesToFull: false } });
    expect((await call()).status).toBe('executed');
    expect(fx.backends.calls.filter((c) => c.startsWith('deployer.startShadow'))).toEqual([
      'deployer.startShadow:2@100',
    ]);
  });

  it('refuses a production shadow of a version that failed a quality gate, as it refuses its canary', async () => {
    fx = await gateFixture();
    fx.backends.versions.push(version('credit-risk', '2', 0.79, ['auc']));
    const outcome = await fx.gate.call({
      runId: 'r1',
      callId: 'c1',
      principal: agent,
      tool: 'deploy_shadow',
      args: { model: 'credit-risk', version: '2', environment: 'production', mirrorPercent: 5 },
    });
    expect(outcome).toMatchObject({ status: 'refused', decision: { ruleId: 'deny-failed-gates-in-production' } });
    expect(fx.backends.calls.some((c) => c.startsWith('deployer.'))).toBe(false);
  });

  it('tells the caller which tools exist when asked for an unknown one', async () => {
    fx = await gateFixture();
    const outcome = await fx.gate.call({
      runId: 'r1',
      callId: 'c1',
      principal: agent,
      tool: 'delete_everything',
      args: {},
    });
    expect(outcome.status).toBe('invalid');
    if (outcome.status !== 'invalid') return;
    expect(outcome.error).toContain('unknown tool "delete_everything"');
    expect(outcome.error).toContain('deploy_canary');
    expect((await fx.entries()).map((e) => e.kind)).toEqual(['call.proposed', 'call.invalid']);
  });

  it('names the exact field at fault when arguments are invalid', async () => {
    fx = await gateFixture();
    const outcome = await fx.gate.call({
      runId: 'r1',
      callId: 'c1',
      principal: agent,
      tool: 'deploy_canary',
      args: { model: 'credit-risk', version: '2', environment: 'prod', trafficPercent: 250 },
    });
    expect(outcome.status).toBe('invalid');
    if (outcome.status !== 'invalid') return;
    expect(outcome.issues.map((i) => i.path).sort()).toEqual(['environment', 'trafficPercent']);
  });

  it('answers a call naming a version that does not exist as not found, never as a policy refusal, and audits it so', async () => {
    fx = await gateFixture();
    const outcome = await fx.gate.call({
      runId: 'r1',
      callId: 'c1',
      principal: agent,
      tool: 'deploy_canary',
      args: { model: 'credit-risk', version: '99', environment: 'staging', trafficPercent: 5 },
    });
    expect(outcome).toMatchObject({
      status: 'invalid',
      code: 'not_found',
      error: 'model "credit-risk" has no version "99"',
    });
    const kinds = (await fx.entries()).map((e) => e.kind);
    expect(kinds).toEqual(['call.proposed', 'call.not_found']);
    expect(fx.backends.calls.some((c) => c.startsWith('deployer.'))).toBe(false);
  });

  it('answers an unknown model and a model not served in an environment as not found', async () => {
    fx = await gateFixture();
    const unknown = await fx.gate.call({
      runId: 'r1',
      callId: 'c1',
      principal: agent,
      tool: 'rollback',
      args: { model: 'fraud', environment: 'production', reason: 'bad canary' },
    });
    expect(unknown).toMatchObject({
      status: 'invalid',
      code: 'not_found',
      error: expect.stringContaining('model "fraud" is not in the registry (known: credit-risk)'),
    });
    const unserved = await fx.gate.call({
      runId: 'r1',
      callId: 'c2',
      principal: agent,
      tool: 'rollback',
      args: { model: 'credit-risk', environment: 'staging', reason: 'bad canary' },
    });
    expect(unserved).toMatchObject({
      status: 'invalid',
      code: 'not_found',
      error: 'model "credit-risk" is not served in staging (no version of it takes traffic there)',
    });
    const view = await fx.gate.call({
      runId: 'r1',
      callId: 'c3',
      principal: agent,
      tool: 'deployment_status',
      args: { model: 'fraud' },
    });
    expect(view).toMatchObject({ status: 'invalid', code: 'not_found' });
  });

  it('denies, saying so plainly, when the risk cannot be assessed for another reason (fail closed)', async () => {
    fx = await gateFixture();
    fx.backends.deployer.getSplit = async () => {
      throw new Error('the deployer is unreachable');
    };
    const outcome = await fx.gate.call({
      runId: 'r1',
      callId: 'c1',
      principal: agent,
      tool: 'deploy_canary',
      args: { model: 'credit-risk', version: '1', environment: 'staging', trafficPercent: 5 },
    });
    expect(outcome.status).toBe('refused');
    if (outcome.status !== 'refused') return;
    expect(outcome.decision).toMatchObject({
      effect: 'deny',
      ruleId: null,
      policy: '(gate)',
      error: 'the deployer is unreachable',
    });
    expect(outcome.decision.reason).toBe(
      'the gate refused this call without asking the policy: its risk could not be assessed (the deployer is unreachable), and a call whose risk is unknown is denied; nothing was executed',
    );
  });

  it('names the quality gates a refused candidate failed, with the measured value against the bound', async () => {
    fx = await gateFixture();
    fx.backends.versions.push(version('credit-risk', '2', 0.48, ['auc']));
    const outcome = await fx.gate.call({
      runId: 'r1',
      callId: 'c1',
      principal: agent,
      tool: 'deploy_canary',
      args: { model: 'credit-risk', version: '2', environment: 'production', trafficPercent: 1 },
    });
    expect(outcome).toMatchObject({ status: 'refused', decision: { ruleId: 'deny-failed-gates-in-production' } });
    if (outcome.status !== 'refused') return;
    expect(outcome.decision.reason).toMatch(
      /it may not touch production, with or without approval\. \(failed quality gates: auc 0\.48 < 0\.82\)$/,
    );
    expect(outcome.risk).toMatchObject({ failedQualityGates: ['auc'], qualityGateFailures: ['auc 0.48 < 0.82'] });
  });

  it('executes nothing when the audit log cannot be written', async () => {
    const broken = join(mkdtempSync(join(tmpdir(), 'mlops-full-')), 'audit.jsonl');
    symlinkSync('/dev/full', broken);
    fx = await gateFixture({ auditFile: broken });
    onTestFinished(() => rmSync(dirname(broken), { recursive: true, force: true }));
    await expect(
      fx.gate.call({
        runId: 'r1',
        callId: 'c1',
        principal: agent,
        tool: 'rollback',
        args: { model: 'credit-risk', environment: 'production', reason: 'bad canary' },
      }),
    ).rejects.toMatchObject({ code: 'audit_failed' });
    expect(fx.backends.calls).toEqual([]);
  });

  it('records a tool failure as the outcome, and the model can read it', async () => {
    fx = await gateFixture();
    fx.backends.dataQuality.check = async () => {
      throw new Error('dataset credit-recent is unreadable: EIO');
    };
    const outcome = await fx.gate.call({
      runId: 'r1',
      callId: 'c1',
      principal: agent,
      tool: 'check_data_quality',
      args: { dataset: 'credit-recent' },
    });
    expect(outcome).toMatchObject({ status: 'failed', error: 'dataset credit-recent is unreadable: EIO' });
    expect((await fx.entries()).at(-1)?.kind).toBe('execution.failed');
  });
});
