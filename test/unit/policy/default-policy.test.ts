import { beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { buildPolicySet, loadPolicySet, type PolicySet } from '../../../src/policy/index.js';
import { NO_DATA_RISK, type DataRisk } from '../../../tools/define-tool.js';
import { DEFAULT_POLICY, KNOWN_TOOLS, canary, request, shadow } from './requests.js';

const retrain = (data: Partial<DataRisk>) =>
  request('trigger_retrain', {
    input: { model: 'credit-risk', dataset: 'credit-recent' },
    risk: { data: { ...NO_DATA_RISK, dataset: 'credit-recent', version: 'a'.repeat(64), ...data } },
  });

describe('the default policy', () => {
  let policy: PolicySet;
  beforeAll(async () => {
    policy = await loadPolicySet([DEFAULT_POLICY], { knownTools: KNOWN_TOOLS });
  });

  it('allows a production canary at 3% of traffic', () => {
    const d = policy.evaluate(canary('production', 3));
    expect(d).toMatchObject({ effect: 'allow', ruleId: 'allow-small-production-canary', policy: 'default' });
  });

  it('allows a production canary at exactly 5% and asks approval just above it', () => {
    expect(policy.evaluate(canary('production', 5)).effect).toBe('allow');
    expect(policy.evaluate(canary('production', 5.5)).effect).toBe('require_approval');
  });

  it('requires one ML lead to approve a production canary at 25%', () => {
    const d = policy.evaluate(canary('production', 25));
    expect(d.effect).toBe('require_approval');
    expect(d.ruleId).toBe('approve-production-canary-above-5');
    expect(d.approval).toEqual({ roles: ['ml-leads'], count: 1, expiresInMs: 4 * 3_600_000 });
    expect(d.reason).toMatch(/above 5%/);
  });

  it('requires two distinct approvers, an ML lead and a risk officer, to promote to 100% in production', () => {
    const d = policy.evaluate(canary('production', 100));
    expect(d.ruleId).toBe('approve-production-full-promotion');
    expect(d.approval).toEqual({
      roles: ['ml-leads', 'risk-officers'],
      count: 2,
      eachRole: true,
      expiresInMs: 4 * 3_600_000,
    });
  });

  it('requires an ML lead to promote to 100% in staging', () => {
    const d = policy.evaluate(canary('staging', 100));
    expect(d).toMatchObject({ effect: 'require_approval', ruleId: 'approve-full-promotion' });
    expect(d.approval?.roles).toEqual(['ml-leads']);
    expect(d.approval?.count).toBe(1);
  });

  it('allows a production shadow of any share without approval, since no customer gets its answers', () => {
    for (const percent of [1, 50, 100])
      expect(policy.evaluate(shadow('production', percent))).toMatchObject({ effect: 'allow', ruleId: 'allow-shadow' });
    expect(policy.evaluate(shadow('staging', 10)).effect).toBe('allow');
  });

  it('denies a production shadow of a version that failed a quality gate, as it denies its canary', () => {
    const d = policy.evaluate(shadow('production', 10, { failedQualityGates: ['auc'] }));
    expect(d).toMatchObject({ effect: 'deny', ruleId: 'deny-failed-gates-in-production' });
  });

  it('allows ending a shadow in production', () => {
    const d = policy.evaluate(request('end_shadow', { environment: 'production', input: { model: 'credit-risk' } }));
    expect(d).toMatchObject({ effect: 'allow', ruleId: 'allow-end-shadow' });
  });

  it('denies a production canary that failed a quality gate even at 1%', () => {
    const d = policy.evaluate(canary('production', 1, { failedQualityGates: ['parity_gap'] }));
    expect(d).toMatchObject({ effect: 'deny', ruleId: 'deny-failed-gates-in-production' });
  });

  it('denies a failed-gate promotion to 100% in production rather than offering approval', () => {
    const d = policy.evaluate(canary('production', 100, { failedQualityGates: ['auc'] }));
    expect(d.effect).toBe('deny');
    expect(d.approval).toBeUndefined();
  });

  it('allows staging canaries, and retraining on checked data that passed its contract', () => {
    expect(policy.evaluate(canary('staging', 50)).ruleId).toBe('allow-staging-canary');
    expect(policy.evaluate(retrain({ checked: true, passed: true, driftOnly: true }))).toMatchObject({
      effect: 'allow',
      ruleId: 'allow-retrain',
    });
    // Soft findings do not fail the data: the policy leaves them to the runbook and to people.
    expect(
      policy.evaluate(retrain({ checked: true, passed: true, softFailures: ['young-history-plausible'] })).ruleId,
    ).toBe('allow-retrain');
  });

  it('denies retraining on data that broke a hard rule of its contract, with no approval offered', () => {
    const d = policy.evaluate(retrain({ checked: true, passed: false, failedChecks: ['income.range'] }));
    expect(d).toMatchObject({ effect: 'deny', ruleId: 'deny-retrain-on-failed-data' });
    expect(d.approval).toBeUndefined();
    expect(d.reason).toBe(
      'The training data credit-recent broke hard rule(s) income.range of its data contract; fix the data upstream (check_data_quality lists the rows), then check it again.',
    );
    const two = policy.evaluate(
      retrain({ checked: true, passed: false, failedChecks: ['income.range', 'loan-within-20x-income'] }),
    );
    expect(two.reason).toContain('hard rule(s) income.range, loan-within-20x-income of');
  });

  it('denies retraining on data never checked, and says how to check it', () => {
    const d = policy.evaluate(retrain({ checked: false }));
    expect(d).toMatchObject({ effect: 'deny', ruleId: 'deny-retrain-on-unchecked-data' });
    expect(d.reason).toContain('check_data_quality');
  });

  it('shows, commented out, how to ask an ML lead to train on unchecked data, and that rule loads', async () => {
    const text = readFileSync(DEFAULT_POLICY, 'utf8');
    const commented = text
      .split('\n')
      .filter((l) => l.startsWith('  # - id: approve-retrain-on-unchecked-data') || l.startsWith('  #   '));
    expect(commented.length).toBeGreaterThan(5);
    // Uncommented in place of the deny, it parks the call for an ML lead.
    const enabled = text
      .replace(/  - id: deny-retrain-on-unchecked-data\n(    .*\n)+/, '')
      .split('\n')
      .map((l) => (l.startsWith('  # - id: approve-retrain') || l.startsWith('  #   ') ? l.replace('  # ', '  ') : l))
      .join('\n');
    const trainAnyway = buildPolicySet([{ file: 'train-anyway.yaml', text: enabled }], { knownTools: KNOWN_TOOLS });
    expect(trainAnyway.evaluate(retrain({ checked: false }))).toMatchObject({
      effect: 'require_approval',
      ruleId: 'approve-retrain-on-unchecked-data',
      approval: { roles: ['ml-leads'] },
    });
    expect(trainAnyway.evaluate(retrain({ checked: true, passed: false, failedChecks: ['income.range'] })).effect).toBe(
      'deny',
    );
  });

  it('allows rollback in production', () => {
    const d = policy.evaluate(request('rollback', { environment: 'production', input: { model: 'credit-risk' } }));
    expect(d).toMatchObject({ effect: 'allow', ruleId: 'allow-rollback' });
  });

  it('allows read-only tools whatever the environment', () => {
    expect(policy.evaluate(request('registry_query')).ruleId).toBe('allow-reads');
    expect(policy.evaluate(request('check_data_quality', { environment: 'production' })).effect).toBe('allow');
  });

  it('denies a situation no rule covers, saying no rule matched', () => {
    // A canary whose environment is neither staging nor production: no rule speaks for it.
    const d = policy.evaluate(request('deploy_canary', { environment: 'none', risk: { trafficPercent: 3 } }));
    expect(d.effect).toBe('deny');
    expect(d.ruleId).toBeNull();
    expect(d.reason).toMatch(/no rule .* matched deploy_canary/);
  });

  it('gives the example role members to principals', () => {
    expect(policy.rolesOf('user:alice')).toEqual(['ml-leads']);
    expect(policy.rolesOf('user:carol')).toEqual(['risk-officers']);
    expect(policy.rolesOf('user:mallory')).toEqual([]);
  });
});
