import { afterEach, describe, expect, it } from 'vitest';
import { policyCommand, POLICY_EXIT } from '../../../src/cli/policy-command.js';
import { ANNOTATIONS, DEFAULT_POLICY, fixture } from './requests.js';

async function run(args: string[]): Promise<{ stdout: string; stderr: string; exitCode: number }> {
  let stdout = '';
  let stderr = '';
  const cmd = policyCommand({
    knownTools: () => Object.entries(ANNOTATIONS).map(([name, annotations]) => ({ name, annotations })),
    defaultFiles: () => [DEFAULT_POLICY],
  });
  const capture = { writeOut: (s: string) => void (stdout += s), writeErr: (s: string) => void (stderr += s) };
  cmd.configureOutput(capture);
  cmd.exitOverride();
  for (const sub of cmd.commands) sub.configureOutput(capture).exitOverride();
  process.exitCode = undefined;
  await cmd.parseAsync(args, { from: 'user' });
  const exitCode = Number(process.exitCode ?? 0);
  process.exitCode = undefined;
  return { stdout, stderr, exitCode };
}

describe('the policy command', () => {
  afterEach(() => {
    process.exitCode = undefined;
  });

  it('checks valid files and counts their rules', async () => {
    const r = await run(['check', fixture('roles-only.yaml'), DEFAULT_POLICY]);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe(`ok: ${fixture('roles-only.yaml')} (0 rules)\nok: ${DEFAULT_POLICY} (11 rules)\n`);
  });

  it('reports a broken file with its line and exits 2', async () => {
    const r = await run(['check', fixture('unknown-tool.yaml')]);
    expect(r.exitCode).toBe(POLICY_EXIT.invalid);
    expect(r.stderr).toContain(`${fixture('unknown-tool.yaml')}:7: rule "canary" names unknown tool "deploy_canery"`);
    expect(r.stdout).toBe('');
  });

  it('explains a production canary at 25% as needing approval and exits 4', async () => {
    const r = await run([
      'explain', '--tool', 'deploy_canary',
      '--input', '{"model":"credit-risk","version":"4","environment":"production","trafficPercent":25}',
      '--risk', '{"trafficPercent":25}',
    ]);
    expect(r.exitCode).toBe(POLICY_EXIT.require_approval);
    expect(r.stdout).toContain('decision: require_approval');
    expect(r.stdout).toContain('rule:     approve-production-canary-above-5');
    expect(r.stdout).toMatch(/allow-rollback .*: does not cover tool deploy_canary/);
    expect(r.stdout).toContain('risk used: {"environment":"production","trafficPercent":25');
  });

  it('explains an allowed read with exit 0 and a default deny with exit 3', async () => {
    expect((await run(['explain', '--tool', 'registry_query'])).exitCode).toBe(POLICY_EXIT.allow);
    const denied = await run(['explain', '--tool', 'deploy_canary', '--file', fixture('roles-only.yaml')]);
    expect(denied.exitCode).toBe(POLICY_EXIT.deny);
    expect(denied.stdout).toContain('rule:     (none: default deny)');
  });

  it('passes the principal and roles through to the conditions', async () => {
    const r = await run(['explain', '--tool', 'rollback', '--principal', 'user:alice', '--roles', 'on-call, sre']);
    expect(r.stdout).toContain('rollback by user:alice (on-call, sre, ml-leads)');
  });

  it('refuses an unknown tool and an unknown risk field with exit 2 and what to fix', async () => {
    const unknownTool = await run(['explain', '--tool', 'deploy']);
    expect(unknownTool.exitCode).toBe(POLICY_EXIT.invalid);
    expect(unknownTool.stderr).toMatch(/unknown tool "deploy"; known tools are: registry_query/);
    const badRisk = await run(['explain', '--tool', 'deploy_canary', '--risk', '{"traffic":5}']);
    expect(badRisk.exitCode).toBe(POLICY_EXIT.invalid);
    expect(badRisk.stderr).toMatch(/--risk has unknown field "traffic"; fields are: environment, trafficPercent/);
  });

  it('explains retraining from the data verdict given in --risk, and shows it in the risk used', async () => {
    const input = '{"model":"credit-risk","dataset":"credit-recent"}';
    const failed = await run(['explain', '--tool', 'trigger_retrain', '--input', input, '--risk', '{"data":{"dataset":"credit-recent","checked":true,"passed":false,"failedChecks":["income.range"]}}']);
    expect(failed.exitCode).toBe(POLICY_EXIT.deny);
    expect(failed.stdout).toContain('rule:     deny-retrain-on-failed-data');
    expect(failed.stdout).toContain('"data":{"dataset":"credit-recent","version":"","checked":true,"passed":false,"failedChecks":["income.range"],"softFailures":[],"driftOnly":false}');
    // Without a verdict the data reads as never checked, which the shipped policy refuses.
    const unchecked = await run(['explain', '--tool', 'trigger_retrain', '--input', input]);
    expect(unchecked.exitCode).toBe(POLICY_EXIT.deny);
    expect(unchecked.stdout).toContain('rule:     deny-retrain-on-unchecked-data');
    const passed = await run(['explain', '--tool', 'trigger_retrain', '--input', input, '--risk', '{"data":{"checked":true,"passed":true,"driftOnly":true}}']);
    expect(passed.exitCode).toBe(POLICY_EXIT.allow);
    const bad = await run(['explain', '--tool', 'trigger_retrain', '--risk', '{"data":{"passed":"yes"}}']);
    expect(bad.exitCode).toBe(POLICY_EXIT.invalid);
    expect(bad.stderr).toContain('--risk field "data.passed" must be a boolean; got "yes"');
  });

  it('refuses --input that is not a JSON object', async () => {
    await expect(run(['explain', '--tool', 'rollback', '--input', '[1]'])).rejects.toThrow(/--input must be a JSON object/);
  });
});
