import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { allTools } from '../../../tools/index.js';
import type { TranscriptItem } from '../../../src/agent/planner.js';
import type { Trigger } from '../../../src/agent/run.js';
import { createRunbookPlanner } from '../../../src/planners/index.js';
import { loadRunbooks, mitigationSteps, parseRunbook, runbookFor } from '../../../src/runbooks/index.js';
import { promptsDir } from '../../../src/paths.js';
import { gateFixture, type GateFixture } from '../../support/gate-fixture.js';
import { runOnRunbook } from '../../support/agent-fixture.js';

const toolNames = allTools.map((t) => t.name);
const drift = (labels: Record<string, string>): Trigger => ({
  kind: 'alert',
  principal: { id: 'agent:alertmanager', roles: [] },
  text: 'ModelDriftDetected on credit-risk',
  alertName: 'ModelDriftDetected',
  data: { labels: { alertname: 'ModelDriftDetected', ...labels }, annotations: { summary: 'PSI 0.4 on income' } },
});
const labels = { model: 'credit-risk', environment: 'production', dataset: 'credit-recent' };

let fx: GateFixture;
afterEach(async () => fx?.cleanup());

async function runAlert(trigger: Trigger, prepare: (fx: GateFixture) => void = () => undefined) {
  fx = await gateFixture();
  prepare(fx);
  const runbooks = await loadRunbooks(join(promptsDir, 'runbooks'), toolNames);
  const runbook = runbookFor(runbooks, trigger.alertName)!;
  const planner = createRunbookPlanner(runbook);
  return runOnRunbook(fx, planner, trigger);
}

describe('the runbook planner on the drift runbook', () => {
  it('checks, retrains, compares and canaries at 5%, and stops at the promotion that needs approval', async () => {
    const { run, outcomes, calls } = await runAlert(drift(labels), (f) => {
      f.backends.nextFindings = [
        { check: 'psi', column: 'income', value: 0.41, threshold: 0.25, severity: 'alert', message: 'income drifted' },
      ];
    });
    expect(outcomes).toEqual([
      'check_data_quality:executed',
      'trigger_retrain:executed',
      'registry_query:executed',
      'deploy_canary:executed',
      'deploy_canary:pending_approval',
    ]);
    expect(calls[1]).toBe('trigger_retrain:{"model":"credit-risk","dataset":"credit-recent","searchTrials":4}');
    expect(calls[3]).toBe(
      'deploy_canary:{"model":"credit-risk","version":"2","environment":"production","trafficPercent":5}',
    );
    expect(fx.backends.splits.get('credit-risk/production')).toMatchObject({
      canaryVersion: '2',
      canaryPercent: 5,
      stableVersion: '1',
    });
    expect(run.answer).toContain('stopped at step promote');
    expect(run.answer).toMatch(/approval/);
    expect(run.usage).toEqual({ input: 0, output: 0 });
    // No approval channel took the promotion: nobody can decide it, so a person must look.
    expect(run.status).toBe('needs_attention');
  });

  it("goes on from a retrain and a canary that ended after a wait, reading each one's outcome from its end", async () => {
    let ender: NodeJS.Timeout | undefined;
    const { run, outcomes, calls } = await runAlert(drift(labels), (f) => {
      f.backends.holdJobs = true;
      f.backends.holdCanaries = true;
      // The job and the canary end a moment after they start, while the run waits for them.
      ender = setInterval(() => {
        for (const job of f.backends.jobs.values()) if (job.status === 'running') f.backends.finishJob(job.jobId);
        try {
          f.backends.endCanary('credit-risk', 'production');
        } catch {
          // No canary stepping yet.
        }
      }, 20);
    });
    clearInterval(ender);
    expect(outcomes).toEqual([
      'check_data_quality:executed',
      'trigger_retrain:waiting',
      'registry_query:executed',
      'deploy_canary:waiting',
      'deploy_canary:pending_approval',
    ]);
    expect(run.transcript.flatMap((i) => (i.kind === 'wait' ? [`${i.name}:${i.outcome.status}`] : []))).toEqual([
      'trigger_retrain:executed',
      'deploy_canary:executed',
    ]);
    expect(calls[2]).toBe('registry_query:{"action":"compare","model":"credit-risk","version":"2"}');
    expect(calls[3]).toBe(
      'deploy_canary:{"model":"credit-risk","version":"2","environment":"production","trafficPercent":5}',
    );
    expect(run.answer).toContain('stopped at step promote');
  });

  it('asks one ML lead, not two people, for a promotion in staging', async () => {
    const { outcomes, run } = await runAlert(drift({ ...labels, environment: 'staging' }), (f) => {
      f.backends.splits.set('credit-risk/staging', {
        model: 'credit-risk',
        environment: 'staging',
        stableVersion: '1',
        canaryVersion: null,
        canaryPercent: 0,
        lastKnownGoodVersion: '1',
      });
    });
    expect(outcomes.slice(-2)).toEqual(['deploy_canary:executed', 'deploy_canary:pending_approval']);
    const decisions = (await fx.entries())
      .filter((e) => e.kind === 'policy.decision')
      .map((e) => e.data.decision as { ruleId: string; approval?: { count: number } });
    expect(decisions.at(-1)).toMatchObject({ ruleId: 'approve-full-promotion', approval: { count: 1 } });
    expect(run.answer).toContain('stopped at step promote');
  });

  it('does not retrain on broken data (a hard contract rule broken): it stops for a person with the findings', async () => {
    const { outcomes, run } = await runAlert(drift(labels), (f) => {
      f.backends.nextViolations = [
        {
          rule: 'income.present',
          severity: 'hard',
          column: 'income',
          rowsAffected: 0,
          examples: [],
          message: 'column "income" is missing from the data',
          source: 'contracts/credit.yaml:31',
        },
      ];
      f.backends.nextFindings = [
        {
          check: 'psi',
          column: 'debt_ratio',
          value: 0.41,
          threshold: 0.25,
          severity: 'alert',
          message: 'debt_ratio drifted',
        },
      ];
    });
    expect(outcomes).toEqual(['check_data_quality:executed']);
    expect(fx.backends.calls.some((c) => c.startsWith('trainer.'))).toBe(false);
    expect(run.status).toBe('needs_attention');
    expect(run.answer).toMatch(
      /^Runbook drift-retrain .* stopped at step broken_data for a person: The recent data breaks a rule of its data contract/,
    );
    expect(run.answer).toContain(
      '  - check: hard rule income.present (contracts/credit.yaml:31): column "income" is missing from the data',
    );
    expect(run.answer).toContain('  - check: psi(debt_ratio): debt_ratio drifted');
    expect(run.error).toMatch(/stopped at step broken_data/);
  });

  it('goes past the stop on drift alone: drifted but valid data is retrained', async () => {
    const { outcomes, run } = await runAlert(drift(labels), (f) => {
      f.backends.nextFindings = [
        { check: 'psi', column: 'income', value: 0.41, threshold: 0.25, severity: 'alert', message: 'income drifted' },
      ];
    });
    expect(outcomes.slice(0, 2)).toEqual(['check_data_quality:executed', 'trigger_retrain:executed']);
    expect(run.answer).toContain('- broken_data: skipped');
  });

  it('does not retrain on valid data that broke a soft rule: that is for a person, not drift', async () => {
    const { outcomes } = await runAlert(drift(labels), (f) => {
      f.backends.nextViolations = [
        {
          rule: 'young-history-plausible',
          severity: 'soft',
          column: null,
          rowsAffected: 3,
          examples: [],
          message: '3 rows break it',
          source: 'contracts/credit.yaml:50',
        },
      ];
    });
    expect(outcomes).toEqual(['check_data_quality:executed']);
    expect(fx.backends.calls.some((c) => c.startsWith('trainer.'))).toBe(false);
  });

  it('does not canary a retrained version that failed a quality gate', async () => {
    const { outcomes } = await runAlert(drift(labels), (f) => {
      f.backends.nextTraining = { auc: 0.75, failedGates: ['auc'] };
    });
    expect(outcomes).toEqual(['check_data_quality:executed', 'trigger_retrain:executed', 'registry_query:executed']);
    expect(fx.backends.calls.some((c) => c.startsWith('deployer.'))).toBe(false);
  });

  it('does not ask to promote a canary paused short of its target (a restart while it stepped), or at it after a failed analysis, and ends for a person', async () => {
    const runbooks = await loadRunbooks(join(promptsDir, 'runbooks'), toolNames);
    const planner = createRunbookPlanner(runbookFor(runbooks, 'ModelDriftDetected')!);
    const trigger = drift(labels);
    const steps = [
      [
        'check',
        'check_data_quality',
        { findings: [], verdict: { passed: true, failedChecks: [], softFailures: [], driftOnly: true, drifted: true } },
      ],
      ['retrain', 'trigger_retrain', { status: 'succeeded', version: '2', promotable: true }],
      ['compare', 'registry_query', { comparison: {} }],
    ] as const;
    const transcript: TranscriptItem[] = [
      { kind: 'trigger', trigger: 'alert', text: trigger.text, data: trigger.data },
    ];
    steps.forEach(([step, tool, output], i) => {
      transcript.push({
        kind: 'plan',
        text: `[runbook drift-retrain step ${step}] ...`,
        calls: [{ id: `call_${i + 1}`, name: tool, args: {} }],
      });
      transcript.push({
        kind: 'result',
        callId: `call_${i + 1}`,
        name: tool,
        outcome: { status: 'executed', output, summary: step },
      });
    });
    const rollout = {
      status: 'paused',
      canaryVersion: '2',
      canaryPercent: 1,
      targetPercent: 5,
      reason: 'interrupted by a restart; call deployCanary again to continue',
    };
    transcript.push(
      {
        kind: 'plan',
        text: '[runbook drift-retrain step canary] ...',
        calls: [{ id: 'call_4', name: 'deploy_canary', args: {} }],
      },
      {
        kind: 'result',
        callId: 'call_4',
        name: 'deploy_canary',
        outcome: {
          status: 'waiting',
          summary: 'canary stepping',
          handle: {},
          startedAt: '2026-01-01T00:00:00.000Z',
          deadline: '2026-01-01T00:11:00.000Z',
        },
      },
      {
        kind: 'wait',
        callId: 'call_4',
        name: 'deploy_canary',
        waitedMs: 5000,
        outcome: {
          status: 'executed',
          output: rollout,
          summary: 'credit-risk production: canary v2 at 1% of target 5%, paused',
        },
      },
    );
    const turn = await planner.next({ runId: 'r', systemPrompt: '', transcript, tools: [] });
    expect(turn).toMatchObject({ kind: 'answer', ends: 'needs_attention' });
    expect(turn.kind === 'answer' && turn.text).toMatch(/paused without a verdict/);
    // The same rollout paused at its target is promoted.
    transcript[transcript.length - 1] = {
      kind: 'wait',
      callId: 'call_4',
      name: 'deploy_canary',
      waitedMs: 5000,
      outcome: { status: 'executed', output: { ...rollout, canaryPercent: 5, reason: null }, summary: 'paused' },
    };
    expect(await planner.next({ runId: 'r', systemPrompt: '', transcript, tools: [] })).toMatchObject({
      kind: 'calls',
      calls: [{ name: 'deploy_canary', args: { trafficPercent: 100 } }],
    });
    // Paused at its target after an analysis that failed for too little traffic: nothing proved yet.
    const thin = {
      at: '2026-01-01T00:00:05.000Z',
      trafficPercent: 5,
      passed: false,
      checks: [{ check: 'canary_requests', canary: 3, stable: 60, threshold: 20, passed: false }],
    };
    transcript[transcript.length - 1] = {
      kind: 'wait',
      callId: 'call_4',
      name: 'deploy_canary',
      waitedMs: 5000,
      outcome: {
        status: 'executed',
        output: { ...rollout, canaryPercent: 5, reason: 'canary got too little traffic at 5%', analyses: [thin] },
        summary: 'paused',
      },
    };
    const thinTurn = await planner.next({ runId: 'r', systemPrompt: '', transcript, tools: [] });
    expect(thinTurn).toMatchObject({ kind: 'answer', ends: 'needs_attention' });
    expect(thinTurn.kind === 'answer' && thinTurn.text).toMatch(/paused without a verdict/);
  });

  it('stops the canary line when the deployer rolled the canary back on its own', async () => {
    const { outcomes, run } = await runAlert(drift(labels), (f) => {
      f.backends.nextCanaryFails = 'p99 latency 3.1x stable';
    });
    expect(outcomes.at(-1)).toBe('deploy_canary:executed');
    expect(outcomes.filter((o) => o.startsWith('deploy_canary'))).toHaveLength(1);
    expect(run.answer).toContain('rolled_back');
  });

  it('acts on nothing, and needs a person, when a label the runbook needs is missing from the alert', async () => {
    const { outcomes, run } = await runAlert(drift({ model: 'credit-risk', environment: 'production' }));
    expect(outcomes).toEqual([]);
    expect(run.answer).toMatch(/cannot run step check: .*dataset/);
    expect(run.status).toBe('needs_attention');
  });

  it('ends failed, saying which step, when a step fails', async () => {
    const { outcomes, run } = await runAlert(drift(labels), (f) => {
      f.backends.trainer.start = async () => {
        throw new Error('the trainer was closed');
      };
    });
    expect(outcomes).toEqual(['check_data_quality:executed', 'trigger_retrain:failed']);
    expect(run).toMatchObject({ status: 'failed', error: 'failed: trigger_retrain (the trainer was closed)' });
    expect(run.answer).toMatch(/stopped at step retrain/);
  });
});

describe('the runbook planner on the canary-rollback runbook', () => {
  const alert = (alertname: string, extra: Record<string, string> = {}): Trigger => ({
    kind: 'alert',
    principal: { id: 'agent:alertmanager', roles: [] },
    text: `${alertname} on credit-risk`,
    alertName: alertname,
    data: {
      labels: { alertname, model: 'credit-risk', environment: 'production', ...extra },
      annotations: { summary: 'p99 latency 900 ms' },
    },
  });
  const heldCanary = (f: GateFixture) => {
    f.backends.splits.set('credit-risk/production', {
      model: 'credit-risk',
      environment: 'production',
      stableVersion: '1',
      canaryVersion: '2',
      canaryPercent: 5,
      lastKnownGoodVersion: '1',
    });
  };

  it('rolls a held canary back at once on ModelLatencyHigh, allowed by policy without approval', async () => {
    const { run, calls, outcomes } = await runAlert(alert('ModelLatencyHigh'), heldCanary);
    expect(run.planner).toBe('runbook:canary-rollback');
    expect(outcomes).toEqual(['rollback:executed']);
    expect(calls[0]).toBe(
      'rollback:{"model":"credit-risk","environment":"production","reason":"ModelLatencyHigh alert for credit-risk in production: rolled back by runbook canary-rollback"}',
    );
    expect(fx.backends.splits.get('credit-risk/production')).toMatchObject({
      stableVersion: '1',
      canaryVersion: null,
      canaryPercent: 0,
    });
    const decisions = (await fx.entries())
      .filter((e) => e.kind === 'policy.decision')
      .map((e) => e.data.decision as { effect: string; ruleId: string });
    expect(decisions).toEqual([expect.objectContaining({ effect: 'allow', ruleId: 'allow-rollback' })]);
    expect(run.answer).toContain('completed');
  });

  it('answers CanaryDegraded by rolling back the canary the alert is about', async () => {
    const { outcomes, calls } = await runAlert(
      alert('CanaryDegraded', { version: '2', stable_version: '1' }),
      heldCanary,
    );
    expect(outcomes).toEqual(['rollback:executed']);
    expect(JSON.parse(calls[0]!.slice('rollback:'.length))).toMatchObject({ expectedCanaryVersion: '2' });
    expect(fx.backends.calls).toContain('deployer.rollback:credit-risk');
  });

  it('leaves alone, saying so, a different canary than the one a CanaryDegraded alert is about', async () => {
    // The alert was about v3; v3 was rolled back since, and v2 is canarying now.
    const { run, outcomes } = await runAlert(
      alert('CanaryDegraded', { version: '3', stable_version: '1' }),
      heldCanary,
    );
    expect(outcomes).toEqual(['rollback:executed']);
    expect(fx.backends.calls).not.toContain('deployer.rollback:credit-risk');
    expect(fx.backends.splits.get('credit-risk/production')).toMatchObject({ canaryVersion: '2', canaryPercent: 5 });
    expect(run.answer).toContain('not rolled back: the alert was about canary v3, but v2 is canarying now');
  });
});

describe("the canary-rollback runbook's mitigation", () => {
  it('marks the rollbacks as the mitigation, and reduces the runbook to them', async () => {
    const runbooks = await loadRunbooks(join(promptsDir, 'runbooks'), toolNames);
    const rollback = runbookFor(runbooks, 'CanaryDegraded')!;
    // One for the canary a CanaryDegraded alert names, one for any other alert: each runs only when the other does not.
    expect(rollback.steps).toEqual([
      expect.objectContaining({
        id: 'rollback_canary',
        tool: 'rollback',
        mitigation: true,
        args: expect.objectContaining({ expectedCanaryVersion: '{{ alert.labels.version }}' }),
      }),
      expect.objectContaining({ id: 'rollback', tool: 'rollback', mitigation: true }),
    ]);
    expect(mitigationSteps(rollback)?.steps.map((st) => st.id)).toEqual(['rollback_canary', 'rollback']);
    expect(mitigationSteps(runbookFor(runbooks, 'ModelDriftDetected')!)).toBeNull();
  });
});

describe('runbook files', () => {
  const good = (steps: string) => `---\nid: t\ntitle: T\nalerts: [A]\nsteps:\n${steps}\n---\nguidance`;

  it('loads the shipped runbooks', async () => {
    const runbooks = await loadRunbooks(join(promptsDir, 'runbooks'), toolNames);
    expect(runbooks.map((r) => r.id)).toEqual([
      'canary-rollback',
      'drift-retrain',
      'nightly-retrain',
      'resource-exhaustion',
    ]);
    expect(runbookFor(runbooks, 'LabDiskFillingUp')?.id).toBe('resource-exhaustion');
    expect(runbookFor(runbooks, 'ModelAccuracyDrop')?.id).toBe('drift-retrain');
    expect(runbookFor(runbooks, 'ModelLatencyHigh')?.id).toBe('canary-rollback');
    expect(runbookFor(runbooks, 'CanaryDegraded')?.id).toBe('canary-rollback');
  });

  it('refuses a step naming an unknown tool, with the file and the step', () => {
    expect(() => parseRunbook(good('  - { id: a, tool: nuke, says: x }'), 'rb.md', toolNames)).toThrow(
      /rb\.md: step "a" names unknown tool "nuke"/,
    );
  });

  it('refuses a condition that is not valid CEL', () => {
    expect(() =>
      parseRunbook(good('  - { id: a, tool: rollback, says: x, when: "steps.(" }'), 'rb.md', toolNames),
    ).toThrow(/"when" is not valid CEL/);
  });

  it('reads a stop step, and refuses one that would leave later steps unreachable or names a tool too', () => {
    const rb = parseRunbook(
      good(
        '  - { id: look, tool: check_data_quality, says: x, args: { dataset: d } }\n  - { id: halt, stop: needs_attention, says: broken, when: "steps.look.output.passed == false" }\n  - { id: undo, tool: rollback, says: y, mitigation: true }',
      ),
      'rb.md',
      toolNames,
    );
    expect(rb.steps.map((st) => ('stop' in st ? `stop:${st.id}` : `${st.tool}${st.mitigation ? '!' : ''}`))).toEqual([
      'check_data_quality',
      'stop:halt',
      'rollback!',
    ]);
    expect(() =>
      parseRunbook(
        good('  - { id: halt, stop: needs_attention, says: s }\n  - { id: a, tool: rollback, says: x }'),
        'rb.md',
        toolNames,
      ),
    ).toThrow(/step "halt" stops the runbook unconditionally/);
    expect(() => parseRunbook(good('  - { id: halt, stop: failed, says: s }'), 'rb.md', toolNames)).toThrow(
      /steps\.0\.stop: Invalid literal value, expected "needs_attention"/,
    );
  });

  it('stops a run at a stop step whose condition holds, with its words and the findings so far', async () => {
    const rb = parseRunbook(
      good(
        '  - { id: look, tool: check_data_quality, says: look, args: { dataset: d } }\n  - { id: halt, stop: needs_attention, says: the data is broken, when: "steps.look.output.passed == false" }\n  - { id: go, tool: registry_query, says: x, args: { action: list_models } }',
      ),
      'rb.md',
      toolNames,
    );
    const planner = createRunbookPlanner(rb);
    const findings = [
      { check: 'missing', column: 'income', value: 0.09, threshold: 0.01, severity: 'alert', message: '9% missing' },
      { check: 'range', column: 'age', value: 3, threshold: null, severity: 'warn', message: 'odd' },
    ];
    const transcript: TranscriptItem[] = [
      { kind: 'trigger', trigger: 'alert', text: 'A', data: {} },
      { kind: 'plan', text: '[runbook t step look] look', calls: [{ id: 'c1', name: 'check_data_quality', args: {} }] },
      {
        kind: 'result',
        callId: 'c1',
        name: 'check_data_quality',
        outcome: { status: 'executed', output: { passed: false, findings }, summary: 'd: 1 alert' },
      },
    ];
    const turn = await planner.next({ runId: 'r', systemPrompt: '', transcript, tools: [] });
    expect(turn).toMatchObject({ kind: 'answer', ends: 'needs_attention' });
    expect(turn.kind === 'answer' && turn.text).toBe(
      'Runbook t (T) stopped at step halt for a person: the data is broken\n- look (check_data_quality): d: 1 alert\nFindings:\n  - look: missing(income): 9% missing',
    );
  });

  it('refuses a file without front matter and one with unknown keys', () => {
    expect(() => parseRunbook('# just markdown', 'rb.md', toolNames)).toThrow(/front matter/);
    expect(() => parseRunbook(good('  - { id: a, tool: rollback, says: x, retries: 3 }'), 'rb.md', toolNames)).toThrow(
      /Unrecognized key/,
    );
  });
});
