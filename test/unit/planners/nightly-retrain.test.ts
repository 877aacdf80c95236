// The nightly-retrain runbook a schedule names: its templates read the schedule's labels,
// and it canaries only a promotable version that beats the champion, stopping at 5%.
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { allTools } from '../../../tools/index.js';
import { scheduleFromConfig } from '../../../src/intake/index.js';
import { createRunbookPlanner } from '../../../src/planners/index.js';
import { loadRunbooks } from '../../../src/runbooks/index.js';
import { promptsDir } from '../../../src/paths.js';
import { gateFixture, type GateFixture } from '../../support/gate-fixture.js';
import { runOnRunbook } from '../../support/agent-fixture.js';

let fx: GateFixture;
afterEach(async () => fx?.cleanup());

const nightly = scheduleFromConfig({
  name: 'nightly-credit-risk',
  cron: '0 2 * * *',
  tz: 'UTC',
  task: 'Retrain credit-risk on the latest applications',
  runbook: 'nightly-retrain',
  labels: { model: 'credit-risk', dataset: 'credit-recent', environment: 'production' },
});

async function runNightly(prepare: (fx: GateFixture) => void = () => undefined) {
  fx = await gateFixture();
  prepare(fx);
  const runbooks = await loadRunbooks(
    join(promptsDir, 'runbooks'),
    allTools.map((t) => t.name),
  );
  const planner = createRunbookPlanner(runbooks.find((rb) => rb.id === 'nightly-retrain')!);
  return runOnRunbook(fx, planner, nightly.trigger);
}

describe('the nightly-retrain runbook', () => {
  it('retrains on the scheduled data set and canaries a better version at 5%, as agent:scheduler, and stops there', async () => {
    const { run, calls, outcomes } = await runNightly();
    expect(outcomes).toEqual([
      'check_data_quality:executed',
      'trigger_retrain:executed',
      'registry_query:executed',
      'deploy_canary:executed',
    ]);
    expect(calls[0]).toBe('check_data_quality:{"dataset":"credit-recent"}');
    expect(calls[1]).toBe('trigger_retrain:{"model":"credit-risk","dataset":"credit-recent","searchTrials":4}');
    expect(calls[3]).toBe(
      'deploy_canary:{"model":"credit-risk","version":"2","environment":"production","trafficPercent":5}',
    );
    expect(fx.backends.splits.get('credit-risk/production')).toMatchObject({
      stableVersion: '1',
      canaryVersion: '2',
      canaryPercent: 5,
    });
    expect(run).toMatchObject({
      status: 'succeeded',
      planner: 'runbook:nightly-retrain',
      trigger: { kind: 'schedule', principal: { id: 'agent:scheduler' } },
    });
    expect(run.answer).toContain('Runbook nightly-retrain');
    const principals = new Set((await fx.entries()).map((e) => e.principal));
    expect(principals).toEqual(new Set(['agent:scheduler']));
  });

  it('does not canary a version that passes the gates but is worse than the champion', async () => {
    const { outcomes, run } = await runNightly((f) => {
      f.backends.nextTraining = { auc: 0.83, failedGates: [] };
    });
    expect(outcomes).toEqual(['check_data_quality:executed', 'trigger_retrain:executed', 'registry_query:executed']);
    expect(fx.backends.calls.some((c) => c.startsWith('deployer.'))).toBe(false);
    expect(run.answer).toContain('canary: skipped');
  });

  it('does not train on broken data', async () => {
    const { outcomes, run } = await runNightly((f) => {
      f.backends.nextViolations = [
        {
          rule: 'income.nulls',
          severity: 'hard',
          column: 'income',
          rowsAffected: 400,
          examples: [{ row: 1, values: { income: null } }],
          message: '400 of 1000 rows have no "income"',
          source: 'contracts/credit.yaml:31',
        },
      ];
    });
    expect(outcomes).toEqual(['check_data_quality:executed']);
    expect(fx.backends.calls.some((c) => c.startsWith('trainer.'))).toBe(false);
    expect(run.status).toBe('needs_attention');
    expect(run.answer).toContain('stopped at step broken_data for a person');
    expect(run.answer).toContain(
      '  - check: hard rule income.nulls (contracts/credit.yaml:31): 400 of 1000 rows have no "income"',
    );
  });
});
