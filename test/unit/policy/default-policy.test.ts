import { beforeAll, describe, expect, it } from 'vitest';
import { loadPolicySet, type PolicySet } from '../../../src/policy/index.js';
import { DEFAULT_POLICY, KNOWN_TOOLS, canary, request } from './requests.js';

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
    expect(d.approval).toEqual({ roles: ['ml-leads', 'risk-officers'], count: 2, eachRole: true, expiresInMs: 4 * 3_600_000 });
  });

  it('requires an ML lead to promote to 100% in staging', () => {
    const d = policy.evaluate(canary('staging', 100));
    expect(d).toMatchObject({ effect: 'require_approval', ruleId: 'approve-full-promotion' });
    expect(d.approval?.roles).toEqual(['ml-leads']);
    expect(d.approval?.count).toBe(1);
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

  it('allows staging canaries and retraining', () => {
    expect(policy.evaluate(canary('staging', 50)).ruleId).toBe('allow-staging-canary');
    expect(policy.evaluate(request('trigger_retrain', { input: { model: 'credit-risk' } })).effect).toBe('allow');
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
