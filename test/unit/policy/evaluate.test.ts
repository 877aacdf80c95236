import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { buildPolicySet, evaluateWithShadow, loadPolicySet, type PolicySet } from '../../../src/policy/index.js';
import { DEFAULT_POLICY, KNOWN_TOOLS, canary, fixture, request } from './requests.js';

/** A one-file set whose rules are given as YAML list items. */
function policyOf(rules: string, roles = ''): PolicySet {
  const text = `apiVersion: mlops-agent/v1\nkind: Policy\nmetadata:\n  name: test\n${roles}rules:\n${rules}`;
  return buildPolicySet([{ file: 'test.yaml', text }], { knownTools: KNOWN_TOOLS });
}

function when(condition: string): PolicySet {
  return policyOf(
    `  - id: cond\n    tools: "*"\n    when: ${JSON.stringify(condition)}\n    effect: allow\n    reason: the condition held\n`,
  );
}

describe('evaluating conditions', () => {
  it('compares JS numbers (CEL doubles) with int literals the way an operator expects', () => {
    const p = when('risk.trafficPercent > 5');
    expect(p.evaluate(canary('production', 6)).effect).toBe('allow');
    expect(p.evaluate(canary('production', 5.5)).effect).toBe('allow');
    expect(p.evaluate(canary('production', 5)).effect).toBe('deny');
    expect(when('risk.trafficPercent == 25').evaluate(canary('production', 25)).effect).toBe('allow');
    expect(when('input.trafficPercent >= 25.0').evaluate(canary('production', 25)).effect).toBe('allow');
  });

  it('reads nested input objects as maps and arrays as lists', () => {
    const p = when(
      "input.params.max_depth > 3 && size(input.features) == 2 && 'age' in input.features && has(input.params.lr)",
    );
    const req = request('trigger_retrain', {
      input: { params: { max_depth: 4, lr: 0.1 }, features: ['age', 'income'] },
    });
    expect(p.evaluate(req).effect).toBe('allow');
  });

  it('joins the roles a request carries with the roles the policy gives the principal', () => {
    const p = policyOf(
      '  - id: leads\n    tools: "*"\n    when: "\'ml-leads\' in principal.roles && \'on-call\' in principal.roles"\n    effect: allow\n    reason: an on-call lead\n',
      'roles:\n  ml-leads: [user:alice]\n',
    );
    expect(p.evaluate(request('rollback', { principal: 'user:alice', roles: ['on-call'] })).effect).toBe('allow');
    expect(p.evaluate(request('rollback', { principal: 'user:alice' })).effect).toBe('deny');
    expect(p.evaluate(request('rollback', { principal: 'user:bob', roles: ['on-call', 'ml-leads'] })).effect).toBe(
      'allow',
    );
  });

  it('denies, naming the rule and the error, when a condition reads a missing field', () => {
    const d = when('input.targetPercent > 5').evaluate(request('deploy_canary', { input: { trafficPercent: 10 } }));
    expect(d).toMatchObject({ effect: 'deny', ruleId: 'cond' });
    expect(d.error).toMatch(/targetPercent/);
    expect(d.reason).toMatch(/rule "cond" could not be evaluated.*fail closed/);
  });

  it('denies when a condition returns an error value from a type mismatch instead of throwing', () => {
    const d = when('risk.trafficPercent + 1 > 5').evaluate(canary('production', 10));
    expect(d).toMatchObject({ effect: 'deny', ruleId: 'cond' });
    expect(d.error).toMatch(/no matching overload/);
  });

  it('denies when a condition yields something other than a boolean', () => {
    const d = when('risk.trafficPercent').evaluate(canary('production', 10));
    expect(d).toMatchObject({ effect: 'deny', ruleId: 'cond' });
    expect(d.error).toMatch(/returned double 10 instead of true or false/);
  });

  it('stops at a failing rule instead of falling through to a later allow', () => {
    const p = policyOf(
      '  - id: broken\n    tools: "*"\n    when: input.missing == 1\n    effect: deny\n    reason: r\n' +
        '  - id: allow-all\n    tools: "*"\n    effect: allow\n    reason: everything else\n',
    );
    expect(p.evaluate(request('rollback')).ruleId).toBe('broken');
    expect(p.evaluate(request('rollback')).effect).toBe('deny');
  });

  it('denies input a condition cannot read, such as a function, without evaluating any rule', () => {
    const d = when('true').evaluate(request('rollback', { input: { callback: () => 1 } }));
    expect(d).toMatchObject({ effect: 'deny', ruleId: null });
    expect(d.error).toMatch(/input\.callback is a function/);
  });

  it('skips rules that do not cover the tool and applies the first one that does', () => {
    const p = policyOf(
      '  - id: only-rollback\n    tools: [rollback]\n    effect: deny\n    reason: r\n' +
        '  - id: canary\n    tools: deploy_canary\n    effect: allow\n    reason: r\n',
    );
    expect(p.evaluate(request('deploy_canary')).ruleId).toBe('canary');
    expect(p.evaluate(request('rollback')).ruleId).toBe('only-rollback');
  });

  it('returns a fresh approval requirement each time so a caller cannot alter the rule', () => {
    const p = policyOf(
      '  - id: a\n    tools: "*"\n    effect: require_approval\n    reason: r\n    approval: { roles: [ml-leads], count: 2, expiresIn: 1h30m }\n',
      'roles:\n  ml-leads: [user:alice]\n',
    );
    const first = p.evaluate(request('rollback'));
    expect(first.approval).toEqual({ roles: ['ml-leads'], count: 2, expiresInMs: 5_400_000 });
    first.approval?.roles.push('anyone');
    expect(p.evaluate(request('rollback')).approval?.roles).toEqual(['ml-leads']);
  });
});

describe('shadow mode', () => {
  it('returns the shadow decision beside the enforced one without changing it', async () => {
    const enforced = await loadPolicySet([DEFAULT_POLICY], { knownTools: KNOWN_TOOLS });
    const shadow = await loadPolicySet([fixture('shadow-strict.yaml')], { knownTools: KNOWN_TOOLS });
    const { decision, shadow: shadowDecision } = evaluateWithShadow(enforced, shadow, canary('production', 3));
    expect(decision).toEqual(enforced.evaluate(canary('production', 3)));
    expect(decision).toMatchObject({ effect: 'allow', policy: 'default' });
    expect(shadowDecision).toMatchObject({
      effect: 'require_approval',
      ruleId: 'any-production-canary-needs-approval',
      policy: 'strict-shadow',
    });
  });

  it('returns no shadow decision when there is no shadow set', async () => {
    const enforced = await loadPolicySet([DEFAULT_POLICY], { knownTools: KNOWN_TOOLS });
    expect(evaluateWithShadow(enforced, null, canary('staging', 3)).shadow).toBeNull();
  });
});

describe('a policy set of several files', () => {
  it('unions the roles of every file and evaluates rules in file order', async () => {
    const set = await loadPolicySet([fixture('roles-only.yaml'), DEFAULT_POLICY], { knownTools: KNOWN_TOOLS });
    expect(set.name).toBe('team-roles+default');
    expect(set.rolesOf('user:dave')).toEqual(['ml-leads']);
    expect(set.roles.get('ml-leads')).toEqual(['user:dave', 'user:alice', 'user:bob']);
    expect(set.evaluate(canary('production', 3)).effect).toBe('allow');
  });

  it('lets the change-freeze example refuse production changes but still allow rollback', async () => {
    const freeze = fileURLToPath(new URL('../../../policies/examples/change-freeze.yaml', import.meta.url));
    const set = await loadPolicySet([freeze, DEFAULT_POLICY], { knownTools: KNOWN_TOOLS });
    expect(set.evaluate(canary('production', 3))).toMatchObject({
      effect: 'deny',
      ruleId: 'freeze-production-changes',
    });
    expect(set.evaluate(request('rollback', { environment: 'production' })).ruleId).toBe('allow-rollback');
    expect(set.evaluate(canary('staging', 3)).effect).toBe('allow');
  });
});
