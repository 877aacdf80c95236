import { beforeAll, describe, expect, it } from 'vitest';
import { buildPolicySet, formatExplanation, loadPolicySet, type PolicySet } from '../../../src/policy/index.js';
import { DEFAULT_POLICY, KNOWN_TOOLS, canary, request } from './requests.js';

describe('explaining a decision', () => {
  let policy: PolicySet;
  beforeAll(async () => {
    policy = await loadPolicySet([DEFAULT_POLICY], { knownTools: KNOWN_TOOLS });
  });

  it('lists why each rule before the deciding one did not match', () => {
    const e = policy.explain(canary('production', 25));
    expect(e.decision.ruleId).toBe('approve-production-canary-above-5');
    expect(e.rules.map((r) => [r.ruleId, r.outcome.kind])).toEqual([
      ['allow-reads', 'condition_false'],
      ['allow-rollback', 'tool_not_covered'],
      ['allow-end-shadow', 'tool_not_covered'],
      ['deny-failed-gates-in-production', 'condition_false'],
      ['allow-shadow', 'tool_not_covered'],
      ['approve-production-full-promotion', 'condition_false'],
      ['approve-production-canary-above-5', 'matched'],
    ]);
    expect(e.notEvaluated).toBe(6);
    expect(e.rules[6]?.line).toBeGreaterThan(e.rules[5]!.line);
  });

  it('formats the decision, the approval needed and each earlier rule for an operator', () => {
    const text = formatExplanation(policy.explain(canary('production', 100)));
    expect(text).toContain('decision: require_approval');
    expect(text).toContain('rule:     approve-production-full-promotion');
    expect(text).toContain('approval: 2 distinct approvers holding ml-leads or risk-officers; expires after 4h');
    expect(text).toMatch(/allow-rollback \(.*default\.yaml:\d+\): does not cover tool deploy_canary/);
    expect(text).toMatch(/=> approve-production-full-promotion \(.*\): matched/);
    expect(text).toContain('(7 later rules not evaluated)');
  });

  it('shows the default deny after every rule failed to match', () => {
    const e = policy.explain(request('deploy_canary', { environment: 'none' }));
    expect(e.rules).toHaveLength(policy.rules.length);
    expect(e.notEvaluated).toBe(0);
    expect(formatExplanation(e)).toContain('rule:     (none: default deny)');
  });

  it('shows the evaluation error of the rule that failed', () => {
    const set = buildPolicySet(
      [
        {
          file: 'p.yaml',
          text: 'apiVersion: mlops-agent/v1\nkind: Policy\nrules:\n  - id: reads-input\n    tools: "*"\n    when: input.model == "x"\n    effect: allow\n    reason: r\n',
        },
      ],
      { knownTools: KNOWN_TOOLS },
    );
    const e = set.explain(request('rollback'));
    expect(e.rules[0]?.outcome).toEqual({ kind: 'error', error: expect.stringMatching(/model/) });
    expect(formatExplanation(e)).toMatch(/=> reads-input \(p\.yaml:4\): evaluation error: .*model/);
  });

  it('reports the principal with the roles the policy gives it', () => {
    const e = policy.explain(request('registry_query', { principal: 'user:carol', roles: ['on-call'] }));
    expect(e.principal).toEqual({ id: 'user:carol', roles: ['on-call', 'risk-officers'] });
  });
});
