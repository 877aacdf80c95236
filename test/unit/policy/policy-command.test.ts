import { afterEach, describe, expect, it } from 'vitest';
import { allTools } from '../../../tools/index.js';
import { policyCommand, POLICY_EXIT } from '../../../src/cli/policy-command.js';
import { memoryBackends, version, type MemoryBackends } from '../../support/memory-backends.js';
import { DEFAULT_POLICY, fixture } from './requests.js';

/** The state risk is computed from: credit-risk v1 serving production, v2 (promotable) and v3 (failed auc) registered. */
function world(): MemoryBackends {
  const backends = memoryBackends();
  backends.versions.push(version('credit-risk', '2', 0.88), version('credit-risk', '3', 0.48, ['auc']));
  return backends;
}

async function run(
  args: string[],
  backends: MemoryBackends | Error = world(),
): Promise<{ stdout: string; stderr: string; exitCode: number; homes: (string | undefined)[] }> {
  let stdout = '';
  let stderr = '';
  const homes: (string | undefined)[] = [];
  const cmd = policyCommand({
    tools: () => allTools,
    defaultFiles: () => [DEFAULT_POLICY],
    openState: async (home) => {
      homes.push(home);
      if (backends instanceof Error) {
        const failing = memoryBackends();
        failing.deployer.getSplit = async () => {
          throw backends;
        };
        return { backends: failing, where: 'the broken lab', close: async () => undefined };
      }
      return { backends, where: 'the test lab', close: async () => undefined };
    },
  });
  const capture = { writeOut: (s: string) => void (stdout += s), writeErr: (s: string) => void (stderr += s) };
  cmd.configureOutput(capture);
  cmd.exitOverride();
  for (const sub of cmd.commands) sub.configureOutput(capture).exitOverride();
  process.exitCode = undefined;
  await cmd.parseAsync(args, { from: 'user' });
  const exitCode = Number(process.exitCode ?? 0);
  process.exitCode = undefined;
  return { stdout, stderr, exitCode, homes };
}

const canaryInput = (version: string, trafficPercent: number) =>
  JSON.stringify({ model: 'credit-risk', version, environment: 'production', trafficPercent });

describe('the policy command', () => {
  afterEach(() => {
    process.exitCode = undefined;
  });

  it('checks valid files and counts their rules', async () => {
    const r = await run(['check', fixture('roles-only.yaml'), DEFAULT_POLICY]);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe(`ok: ${fixture('roles-only.yaml')} (0 rules)\nok: ${DEFAULT_POLICY} (13 rules)\n`);
  });

  it('reports a broken file with its line and exits 2', async () => {
    const r = await run(['check', fixture('unknown-tool.yaml')]);
    expect(r.exitCode).toBe(POLICY_EXIT.invalid);
    expect(r.stderr).toContain(`${fixture('unknown-tool.yaml')}:7: rule "canary" names unknown tool "deploy_canery"`);
    expect(r.stdout).toBe('');
  });

  it('computes the risk from the current state as the gate does: a 50% production canary needs approval without any --risk', async () => {
    const r = await run(['explain', '--tool', 'deploy_canary', '--input', canaryInput('2', 50)]);
    expect(r.exitCode).toBe(POLICY_EXIT.require_approval);
    expect(r.stdout).toContain('decision: require_approval');
    expect(r.stdout).toContain('rule:     approve-production-canary-above-5');
    expect(r.stdout).toMatch(/allow-rollback .*: does not cover tool deploy_canary/);
    expect(r.stdout).toContain(
      'risk:     computed by the tool from the test lab: {"environment":"production","trafficPercent":50,"trafficChangePercent":50,"promotesToFull":false',
    );
  });

  it("shows --risk values as a what-if beside the gate's decision, never as the answer", async () => {
    const r = await run([
      'explain',
      '--tool',
      'deploy_canary',
      '--input',
      canaryInput('2', 50),
      '--risk',
      '{"trafficPercent":5}',
    ]);
    // The gate would park it: the exit code and the headline say so, whatever the override.
    expect(r.exitCode).toBe(POLICY_EXIT.require_approval);
    expect(r.stdout.startsWith('decision: require_approval')).toBe(true);
    expect(r.stdout).toContain(
      'what if:  with the --risk overrides trafficPercent 5 (computed 50), not what the gate would decide:',
    );
    expect(r.stdout).toContain('  decision: allow');
    expect(r.stdout).toContain('  rule:     allow-small-production-canary');
  });

  it('words a deny as the gate does: the rule, and each failed quality gate with its value against the bound', async () => {
    const r = await run(['explain', '--tool', 'deploy_canary', '--input', canaryInput('3', 1)]);
    expect(r.exitCode).toBe(POLICY_EXIT.deny);
    expect(r.stdout).toContain('rule:     deny-failed-gates-in-production');
    expect(r.stdout).toContain('(failed quality gates: auc 0.48 < 0.82)');
  });

  it('says the call is not judged, and exits 2, when it names a version that does not exist', async () => {
    const r = await run(['explain', '--tool', 'deploy_canary', '--input', canaryInput('99', 5)]);
    expect(r.exitCode).toBe(POLICY_EXIT.invalid);
    expect(r.stdout).toContain('not judged: not found in the test lab: model "credit-risk" has no version "99"');
    expect(r.stdout).not.toContain('decision: allow');
  });

  it('says which risk fields it could not compute and exits 2 when the state cannot be read', async () => {
    const r = await run(
      ['explain', '--tool', 'deploy_canary', '--input', canaryInput('2', 50), '--risk', '{"trafficPercent":5}'],
      new Error('EACCES: deployments.json'),
    );
    expect(r.exitCode).toBe(POLICY_EXIT.invalid);
    expect(r.stdout).toContain('decision: unknown: the risk could not be computed');
    expect(r.stdout).toContain(
      'deploy_canary could not compute its risk from the broken lab: EACCES: deployments.json',
    );
    expect(r.stdout).toContain(
      'fields not computed and not given by --risk: environment, trafficChangePercent, promotesToFull, qualityDelta, failedQualityGates, qualityGateFailures, reversible, data',
    );
    expect(r.stdout).not.toMatch(/^decision: allow/m);
  });

  it('refuses arguments the gate would refuse, naming the field, and exits 2', async () => {
    const r = await run([
      'explain',
      '--tool',
      'deploy_canary',
      '--input',
      '{"model":"credit-risk","version":"2","environment":"moon","trafficPercent":5}',
    ]);
    expect(r.exitCode).toBe(POLICY_EXIT.invalid);
    expect(r.stdout).toMatch(/not judged: invalid arguments for deploy_canary: environment: /);
  });

  it('explains an allowed read with exit 0 and a default deny with exit 3', async () => {
    expect((await run(['explain', '--tool', 'registry_query', '--input', '{"action":"list_models"}'])).exitCode).toBe(
      POLICY_EXIT.allow,
    );
    const denied = await run([
      'explain',
      '--tool',
      'deploy_canary',
      '--input',
      canaryInput('2', 5),
      '--file',
      fixture('roles-only.yaml'),
    ]);
    expect(denied.exitCode).toBe(POLICY_EXIT.deny);
    expect(denied.stdout).toContain('rule:     (none: default deny)');
  });

  it('passes the principal and roles through to the conditions, and the home to the state', async () => {
    const r = await run([
      'explain',
      '--tool',
      'rollback',
      '--input',
      '{"model":"credit-risk","environment":"production","reason":"bad canary"}',
      '--principal',
      'user:alice',
      '--roles',
      'on-call, sre',
      '--home',
      '/var/lib/mlops-agent',
    ]);
    expect(r.stdout).toContain('rollback by user:alice (on-call, sre, ml-leads)');
    expect(r.homes).toEqual(['/var/lib/mlops-agent']);
  });

  it('refuses an unknown tool and an unknown risk field with exit 2 and what to fix', async () => {
    const unknownTool = await run(['explain', '--tool', 'deploy']);
    expect(unknownTool.exitCode).toBe(POLICY_EXIT.invalid);
    expect(unknownTool.stderr).toMatch(/unknown tool "deploy"; known tools are: registry_query/);
    const badRisk = await run(['explain', '--tool', 'deploy_canary', '--risk', '{"traffic":5}']);
    expect(badRisk.exitCode).toBe(POLICY_EXIT.invalid);
    expect(badRisk.stderr).toMatch(/--risk has unknown field "traffic"; fields are: environment, trafficPercent/);
  });

  it('explains retraining from the stored data verdict, as the gate computes it, with --risk data as a what-if', async () => {
    const input = '{"model":"credit-risk","dataset":"credit-recent"}';
    // The world's credit-recent was checked and passed: the gate would allow training on it.
    const passed = await run(['explain', '--tool', 'trigger_retrain', '--input', input]);
    expect(passed.exitCode).toBe(POLICY_EXIT.allow);
    expect(passed.stdout).toContain(
      '"data":{"dataset":"credit-recent","version":"sha-credit-recent","checked":true,"passed":true',
    );
    // Content changed since its check reads as never checked, which the shipped policy refuses.
    const changed = world();
    changed.dataVersions.set('credit-recent', 'sha-new-content');
    const unchecked = await run(['explain', '--tool', 'trigger_retrain', '--input', input], changed);
    expect(unchecked.exitCode).toBe(POLICY_EXIT.deny);
    expect(unchecked.stdout).toContain('rule:     deny-retrain-on-unchecked-data');
    // A failed verdict given with --risk is a what-if beside the gate's decision, never its exit code.
    const whatIf = await run([
      'explain',
      '--tool',
      'trigger_retrain',
      '--input',
      input,
      '--risk',
      '{"data":{"dataset":"credit-recent","checked":true,"passed":false,"failedChecks":["income.range"]}}',
    ]);
    expect(whatIf.exitCode).toBe(POLICY_EXIT.allow);
    expect(whatIf.stdout).toMatch(/what if: .*"failedChecks":\["income.range"\]/);
    expect(whatIf.stdout).toContain('deny-retrain-on-failed-data');
    const bad = await run([
      'explain',
      '--tool',
      'trigger_retrain',
      '--input',
      input,
      '--risk',
      '{"data":{"passed":"yes"}}',
    ]);
    expect(bad.exitCode).toBe(POLICY_EXIT.invalid);
    expect(bad.stderr).toContain('--risk field "data.passed" must be a boolean; got "yes"');
  });

  it('refuses --input that is not a JSON object', async () => {
    await expect(run(['explain', '--tool', 'rollback', '--input', '[1]'])).rejects.toThrow(
      /--input must be a JSON object/,
    );
  });
});
