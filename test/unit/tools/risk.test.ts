// Every tool fills every Risk field, so a policy condition never meets a missing key; and
// trigger_retrain's risk is the stored data-quality verdict on the data it would train on.
import { describe, expect, it } from 'vitest';
import { allTools, findTool, NO_DATA_RISK, NO_RISK, type Risk } from '../../../tools/index.js';
import { memoryBackends } from '../../support/memory-backends.js';

const INPUTS: Record<string, unknown> = {
  registry_query: { action: 'list_models' },
  trigger_retrain: { model: 'credit-risk', dataset: 'credit-recent' },
  deploy_canary: { model: 'credit-risk', version: '1', environment: 'production', trafficPercent: 5 },
  rollback: { model: 'credit-risk', environment: 'production', reason: 'test' },
  check_data_quality: { dataset: 'credit-recent' },
  deployment_status: { model: 'credit-risk' },
  deploy_shadow: { model: 'credit-risk', version: '1', environment: 'production', mirrorPercent: 10 },
  end_shadow: { model: 'credit-risk', environment: 'production', reason: 'test' },
};

async function riskOf(tool: string, args: unknown, backends = memoryBackends()): Promise<Risk> {
  const t = findTool(tool)!;
  return t.assessRisk(t.input.parse(args), { backends, principal: 'user:alice', idempotencyKey: 'k' });
}

describe('risk figures', () => {
  it('are complete for every tool, down to every field of risk.data', async () => {
    expect(Object.keys(INPUTS).sort()).toEqual(allTools.map((t) => t.name).sort());
    for (const tool of allTools) {
      const risk = await riskOf(tool.name, INPUTS[tool.name]);
      expect(Object.keys(risk).sort(), tool.name).toEqual(Object.keys(NO_RISK).sort());
      expect(Object.keys(risk.data).sort(), tool.name).toEqual(Object.keys(NO_DATA_RISK).sort());
    }
  });

  it('gives trigger_retrain the verdict stored on the data as it is now', async () => {
    const backends = memoryBackends();
    backends.forgetChecks();
    expect((await riskOf('trigger_retrain', INPUTS.trigger_retrain, backends)).data).toEqual({
      ...NO_DATA_RISK,
      dataset: 'credit-recent',
      version: 'sha-credit-recent',
    });
    backends.nextViolations = [
      {
        rule: 'income.range',
        severity: 'hard',
        column: 'income',
        rowsAffected: 10,
        examples: [],
        message: 'x',
        source: 'contracts/credit.yaml:31',
      },
    ];
    await backends.dataQuality.check('credit-recent');
    expect((await riskOf('trigger_retrain', INPUTS.trigger_retrain, backends)).data).toEqual({
      dataset: 'credit-recent',
      version: 'sha-credit-recent',
      checked: true,
      passed: false,
      failedChecks: ['income.range'],
      softFailures: [],
      driftOnly: false,
    });
    // New content under the same name: what was checked is not what would be trained on.
    backends.dataVersions.set('credit-recent', 'sha-new');
    expect((await riskOf('trigger_retrain', INPUTS.trigger_retrain, backends)).data).toMatchObject({
      version: 'sha-new',
      checked: false,
      passed: false,
    });
  });

  it('involves no data for the other tools', async () => {
    for (const tool of [
      'deploy_canary',
      'deploy_shadow',
      'end_shadow',
      'rollback',
      'registry_query',
      'check_data_quality',
      'deployment_status',
    ]) {
      expect((await riskOf(tool, INPUTS[tool])).data, tool).toEqual(NO_DATA_RISK);
    }
  });

  it("sends no live traffic to a shadow, and carries its candidate's failed quality gates", async () => {
    const backends = memoryBackends();
    backends.versions.push({
      ...backends.versions[0]!,
      version: '2',
      aliases: [],
      promotable: false,
      qualityGates: [{ gate: 'auc', value: 0.5, threshold: 0.82, direction: 'min', passed: false }],
    });
    const risk = await riskOf(
      'deploy_shadow',
      { model: 'credit-risk', version: '2', environment: 'production', mirrorPercent: 100 },
      backends,
    );
    expect(risk).toMatchObject({
      environment: 'production',
      trafficPercent: 0,
      trafficChangePercent: 0,
      promotesToFull: false,
      failedQualityGates: ['auc'],
    });
  });

  it('counts a version never evaluated (no quality gate measured) as failing the evaluation gate', async () => {
    const backends = memoryBackends();
    const v1 = backends.versions[0]!;
    backends.versions.push({ ...v1, version: '2', aliases: [], metrics: {}, qualityGates: [] });
    const risk = await riskOf(
      'deploy_canary',
      { ...(INPUTS.deploy_canary as object), version: '2', trafficPercent: 100 },
      backends,
    );
    expect(risk.failedQualityGates).toEqual(['evaluation']);
    expect(risk.qualityGateFailures).toEqual([
      'evaluation: the version was never evaluated (no quality gate was measured)',
    ]);
    expect((await riskOf('deploy_canary', INPUTS.deploy_canary, backends)).failedQualityGates).toEqual([]);
  });
});
