import { describe, expect, it } from 'vitest';
import { UserError } from '../../../src/errors.js';
import { buildPolicySet, loadPolicySet, PolicyInvalidError, type PolicyIssue } from '../../../src/policy/index.js';
import { KNOWN_TOOLS, fixture, request } from './requests.js';
import { KNOWN_FIELDS, KNOWN_NESTED_FIELDS } from '../../../src/policy/cel-condition.js';
import { NO_DATA_RISK, NO_RISK } from '../../../tools/define-tool.js';

async function issuesOf(files: string[]): Promise<PolicyIssue[]> {
  const err = await loadPolicySet(files, { knownTools: KNOWN_TOOLS }).then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(PolicyInvalidError);
  expect(err).toBeInstanceOf(UserError);
  expect((err as UserError).code).toBe('policy_invalid');
  return (err as PolicyInvalidError).issues;
}

function issuesOfText(text: string): PolicyIssue[] {
  try {
    buildPolicySet([{ file: 'inline.yaml', text }], { knownTools: KNOWN_TOOLS });
  } catch (err) {
    expect(err).toBeInstanceOf(PolicyInvalidError);
    return (err as PolicyInvalidError).issues;
  }
  throw new Error('expected the policy to be refused');
}

const HEADER = 'apiVersion: mlops-agent/v1\nkind: Policy\n';

describe('loading a broken policy file', () => {
  it('refuses YAML syntax errors with the file and line', async () => {
    const [issue] = await issuesOf([fixture('yaml-syntax.yaml')]);
    expect(issue?.file).toBe(fixture('yaml-syntax.yaml'));
    expect(issue?.line).toBe(7);
    expect(issue?.message).toMatch(/YAML syntax error/);
  });

  it('refuses CEL syntax errors at the line of the condition', async () => {
    const issues = await issuesOf([fixture('cel-syntax.yaml')]);
    expect(issues).toHaveLength(1);
    expect(issues[0]).toMatchObject({ line: 11 });
    expect(issues[0]?.message).toMatch(/rule "broken-canary".*CEL syntax error/);
  });

  it('refuses an unknown field and lists the allowed ones', async () => {
    const issues = await issuesOf([fixture('unknown-field.yaml')]);
    expect(issues[0]).toMatchObject({ line: 6 });
    expect(issues[0]?.message).toMatch(/unknown field "efect"; allowed fields are: id, tools, when, effect/);
    // The misspelt effect also means the rule has none, reported at the rule's line.
    expect(issues.some((i) => i.line === 4 && /no "effect"/.test(i.message))).toBe(true);
  });

  it('refuses an unknown tool name at the line of the name and lists the known tools', async () => {
    const [issue] = await issuesOf([fixture('unknown-tool.yaml')]);
    expect(issue?.line).toBe(7);
    expect(issue?.message).toMatch(/unknown tool "deploy_canery"; known tools are: check_data_quality, deploy_canary/);
  });

  it('refuses a duplicate rule id, pointing at both definitions', async () => {
    const [issue] = await issuesOf([fixture('duplicate-id.yaml')]);
    expect(issue?.line).toBe(8);
    expect(issue?.message).toMatch(/duplicate rule id "canary" \(first defined at .*duplicate-id\.yaml:4\)/);
  });

  it('refuses a rule id repeated in a second file of the set', async () => {
    const issues = await issuesOf([fixture('shadow-strict.yaml'), fixture('cel-syntax.yaml')]);
    expect(
      issues.some((i) => i.file === fixture('cel-syntax.yaml') && /duplicate rule id "reads"/.test(i.message)),
    ).toBe(true);
  });

  it('refuses require_approval without an approval block', async () => {
    const [issue] = await issuesOf([fixture('missing-approval.yaml')]);
    expect(issue?.line).toBe(6);
    expect(issue?.message).toMatch(/requires approval but has no "approval" block/);
  });

  it('refuses a duration it cannot read', async () => {
    const [issue] = await issuesOf([fixture('bad-duration.yaml')]);
    expect(issue?.line).toBe(12);
    expect(issue?.message).toMatch(/expiresIn: "four hours" is not a duration.*"4h"/);
  });

  it('puts the file and line in the error message an operator sees', async () => {
    const err = await loadPolicySet([fixture('unknown-tool.yaml')], { knownTools: KNOWN_TOOLS }).catch(
      (e: unknown) => e,
    );
    expect((err as Error).message).toContain(`${fixture('unknown-tool.yaml')}:7: rule "canary" names unknown tool`);
  });

  it('refuses a file that does not exist', async () => {
    const [issue] = await issuesOf([fixture('no-such-file.yaml')]);
    expect(issue?.message).toMatch(/cannot read the policy file: no such file/);
  });

  it('refuses a condition that reads an unknown variable or a misspelt risk field', () => {
    const issues = issuesOfText(
      `${HEADER}rules:\n  - id: a\n    tools: "*"\n    when: enviroment == 'production'\n    effect: deny\n    reason: r\n` +
        `  - id: b\n    tools: "*"\n    when: risk.trafficPercnt > 5\n    effect: deny\n    reason: r\n`,
    );
    expect(issues).toHaveLength(2);
    expect(issues[0]).toMatchObject({ line: 6 });
    expect(issues[0]?.message).toMatch(/unknown variable "enviroment"/);
    expect(issues[1]).toMatchObject({ line: 11 });
    expect(issues[1]?.message).toMatch(/"risk" has no field "trafficPercnt"/);
  });

  it('refuses a misspelt field of risk.data, and knows every field the tools fill', () => {
    const issues = issuesOfText(
      `${HEADER}rules:\n  - id: a\n    tools: [trigger_retrain]\n    when: risk.data.checked && !risk.data.passd\n    effect: deny\n    reason: r\n`,
    );
    expect(issues).toEqual([
      expect.objectContaining({
        line: 6,
        message: expect.stringMatching(
          /"risk\.data" has no field "passd" \(fields: dataset, version, checked, passed, failedChecks, softFailures, driftOnly\)/,
        ),
      }),
    ]);
    expect(KNOWN_FIELDS.risk).toEqual(Object.keys(NO_RISK));
    expect(KNOWN_NESTED_FIELDS['risk.data']).toEqual(Object.keys(NO_DATA_RISK));
  });

  it('refuses a reason whose {{ }} expression does not compile, and renders one that does', () => {
    const issues = issuesOfText(
      `${HEADER}rules:\n  - id: a\n    tools: "*"\n    effect: deny\n    reason: "gates {{ risk.failedGates }} failed"\n`,
    );
    expect(issues).toEqual([
      expect.objectContaining({
        line: 7,
        message: expect.stringContaining(
          'rule "a": in "reason {{ risk.failedGates }}": "risk" has no field "failedGates"',
        ),
      }),
    ]);
    const set = buildPolicySet(
      [
        {
          file: 'inline.yaml',
          text: `${HEADER}rules:\n  - id: a\n    tools: "*"\n    effect: deny\n    reason: "failed {{ risk.failedQualityGates }} at {{ risk.trafficPercent }}% ({{ input.nope }})"\n`,
        },
      ],
      { knownTools: KNOWN_TOOLS },
    );
    const d = set.evaluate(
      request('deploy_canary', { risk: { failedQualityGates: ['auc', 'parity_gap'], trafficPercent: 5 } }),
    );
    // A figure that cannot be shown says why; the decision stands.
    expect(d).toMatchObject({
      effect: 'deny',
      reason: 'failed auc, parity_gap at 5% ({{ input.nope: field not found: nope }})',
    });
  });

  it('accepts loop variables in macros without mistaking them for unknown variables', () => {
    const set = buildPolicySet(
      [
        {
          file: 'inline.yaml',
          text: `${HEADER}rules:\n  - id: a\n    tools: "*"\n    when: risk.failedQualityGates.exists(g, g == 'auc')\n    effect: deny\n    reason: r\n`,
        },
      ],
      { knownTools: KNOWN_TOOLS },
    );
    expect(set.rules).toHaveLength(1);
  });

  it('refuses an approval role that no file declares', () => {
    const [issue] = issuesOfText(
      `${HEADER}roles:\n  ml-leads: [user:alice]\nrules:\n  - id: a\n    tools: [deploy_canary]\n    effect: require_approval\n    reason: r\n    approval:\n      roles: [ml-lead]\n`,
    );
    expect(issue).toMatchObject({ line: 11 });
    expect(issue?.message).toMatch(/role "ml-lead", which no file declares.*declared roles: ml-leads/);
  });

  it('refuses an approval block on an allow rule, a zero count and a wrong apiVersion', () => {
    const issues = issuesOfText(
      'apiVersion: v2\nkind: Policy\nroles:\n  ml-leads: []\nrules:\n  - id: a\n    tools: "*"\n    effect: allow\n    reason: r\n    approval: { roles: [ml-leads] }\n' +
        '  - id: b\n    tools: "*"\n    effect: require_approval\n    reason: r\n    approval: { roles: [ml-leads], count: 0 }\n',
    );
    expect(issues.map((i) => i.line)).toEqual([1, 10, 15]);
    expect(issues[0]?.message).toMatch(/apiVersion must be "mlops-agent\/v1"/);
    expect(issues[1]?.message).toMatch(/approval applies only to require_approval/);
    expect(issues[2]?.message).toMatch(/count must be a whole number of at least 1/);
  });

  it('refuses an empty file and a rule missing its reason', () => {
    expect(issuesOfText('')[0]?.message).toMatch(/the file is empty/);
    const [issue] = issuesOfText(`${HEADER}rules:\n  - id: a\n    tools: "*"\n    effect: allow\n`);
    expect(issue).toMatchObject({ line: 4 });
    expect(issue?.message).toMatch(/has no "reason"/);
  });
});
