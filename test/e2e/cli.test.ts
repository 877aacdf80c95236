import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openLocalLab } from '../../src/backends/local/index.js';
import { silentLogger } from '../../src/logger.js';
import { versionInput } from '../contract/model-registry.contract.js';
import {
  functionCallReply,
  startFakeGeminiServer,
  textReply,
  type FakeGeminiServer,
} from '../support/fake-gemini-server.js';
import { runCli } from '../support/run-cli.js';

let home: string;
beforeEach(() => {
  home = mkdtempSync(join(tmpdir(), 'mlops-e2e-'));
});
afterEach(() => rmSync(home, { recursive: true, force: true }));

describe('the mlops-agent command', () => {
  it('explains itself with --help and lists its commands', async () => {
    const { code, stdout } = await runCli(['--help']);
    expect(code).toBe(0);
    for (const command of ['demo', 'chat', 'policy', 'audit', 'runs']) expect(stdout).toContain(command);
    expect(stdout).toContain('Exit codes');
  });

  it('says exactly how to configure an LLM when chat has none, and exits 2', async () => {
    const { code, stderr, stdout } = await runCli(['chat', 'which model is champion?'], {
      env: { MLOPS_AGENT_HOME: home },
    });
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toContain('export GEMINI_API_KEY=');
    expect(stderr).toContain('export OPENAI_BASE_URL=');
  });

  it('names the config key at fault and exits 2', async () => {
    writeFileSync(join(home, 'mlops-agent.yaml'), 'loop:\n  maxSteps: -3\n');
    const { code, stderr } = await runCli(['chat', 'hi'], { cwd: home });
    expect(code).toBe(2);
    expect(stderr).toContain('loop.maxSteps');
  });

  it('checks the shipped data contracts, and refuses a broken one at start with file:line', async () => {
    const ok = await runCli(['contracts', 'check']);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/ok: .*contracts\/credit\.yaml \(contract "credit" for credit-\*/);
    expect(ok.stdout).toMatch(/ok: .*contracts\/quotes\.yaml \(contract "quotes" for quotes-\*/);
    writeFileSync(
      join(home, 'broken.yaml'),
      'apiVersion: mlops-agent/v1\nkind: DataContract\nmetadata: { name: credit }\ndatasets: [credit-*]\ncolumns:\n  income: { type: number, min: 10, max: 1 }\n',
    );
    const checked = await runCli(['contracts', 'check', join(home, 'broken.yaml')]);
    expect(checked.code).toBe(2);
    expect(checked.stderr).toContain(`${join(home, 'broken.yaml')}:6: column "income" min (10) is above max (1)`);
    writeFileSync(join(home, 'mlops-agent.yaml'), 'contracts:\n  files: [broken.yaml]\n');
    const demo = await runCli(['demo'], { cwd: home, env: { MLOPS_AGENT_HOME: join(home, 'h') } });
    expect(demo.code).toBe(2);
    expect(demo.stderr).toContain('broken.yaml:6: column "income" min (10) is above max (1)');
  });

  it('checks the shipped policy', async () => {
    const { code, stdout } = await runCli(['policy', 'check', 'policies/default.yaml']);
    expect(code).toBe(0);
    expect(stdout).toMatch(/ok: .*default\.yaml \(\d+ rules\)/);
  });

  describe('chat with Gemini (the real SDK against a local generateContent server)', () => {
    let gemini: FakeGeminiServer;
    beforeEach(async () => {
      gemini = await startFakeGeminiServer();
    });
    afterEach(async () => gemini.close());

    it('prints the plan, each call with its decision and the answer, and audits the run', async () => {
      gemini.script(
        functionCallReply([{ name: 'registry_query', args: { action: 'list_models' } }], { usage: [400, 20] }),
        functionCallReply(
          [
            {
              name: 'deploy_canary',
              args: { model: 'credit-risk', version: '1', environment: 'production', trafficPercent: 50 },
            },
          ],
          { usage: [500, 30] },
        ),
        textReply('No models are registered yet, and a 50% production canary needs approval.', [600, 40]),
      );
      const env = { MLOPS_AGENT_HOME: home, GEMINI_API_KEY: 'test-key', GEMINI_BASE_URL: gemini.baseUrl };
      const { code, stdout, stderr } = await runCli(['chat', 'which model is champion?'], { env });
      expect(stderr).toBe('');
      // The canary it tried could not run: the run failed, whatever the answer says.
      expect(code).toBe(1);
      expect(stdout).toContain('CHAT      which model is champion?');
      expect(stdout).toMatch(/call\s+registry_query \{"action":"list_models"\}/);
      expect(stdout).toMatch(/ok\s+registry_query: 0 model\(s\)/);
      // The canary names a model the registry does not have: a not-found, not a refusal.
      expect(stdout).toMatch(
        /NOT FOUND\s+deploy_canary: not found: model "credit-risk" is not in the registry \(it has no models yet\)/,
      );
      expect(stdout).toContain('answer    No models are registered yet');
      expect(stdout).toMatch(/failed after 3 step\(s\) with gemini:gemini-2.5-flash; tokens: 1590 \(1500 in, 90 out\)/);
      expect(stdout).toContain(
        '  did     Changed nothing. Looked: registry_query. Failed: deploy_canary (not found: model "credit-risk" is not in the registry (it has no models yet)).',
      );

      const verify = await runCli(['audit', 'verify'], { env: { MLOPS_AGENT_HOME: home } });
      expect(verify.code).toBe(0);
      expect(verify.stdout).toMatch(/audit log intact: \d+ entries/);
      const tail = await runCli(['audit', 'tail', '-n', '50', '--json'], { env: { MLOPS_AGENT_HOME: home } });
      const kinds = tail.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l).kind);
      expect(kinds[0]).toBe('run.started');
      expect(kinds).toContain('policy.decision');
      expect(kinds.at(-1)).toBe('run.finished');

      const none = await runCli(['runs', 'list', '--status', 'waiting'], { env: { MLOPS_AGENT_HOME: home } });
      expect(none).toMatchObject({ code: 0, stdout: 'no runs\n' });
      const list = await runCli(['runs', 'list', '--status', 'failed'], { env: { MLOPS_AGENT_HOME: home } });
      const id = /(run_\S+)\s+failed\s+chat\s+\d+\s+\S+\s+which model is champion\?/.exec(list.stdout)?.[1];
      expect(id).toBeDefined();
      const show = await runCli(['runs', 'show', id!], { env: { MLOPS_AGENT_HOME: home } });
      expect(show.code).toBe(0);
      expect(show.stdout).toMatch(/NOT FOUND\s+deploy_canary/);
      expect(show.stdout).toContain(`run ${id} failed after 3 step(s)`);
      expect(show.stdout).toContain(
        'serving now  credit-risk/production: model "credit-risk" is not in the registry (it has no models yet)',
      );
      const missing = await runCli(['runs', 'show', 'run_nope'], { env: { MLOPS_AGENT_HOME: home } });
      expect(missing.code).toBe(2);
      expect(missing.stderr).toContain('no run run_nope');
    });
  });

  describe('on a lab that serves a model', () => {
    beforeEach(async () => {
      // credit-risk v1 serves production; v2 is registered and passed its gates.
      const lab = await openLocalLab({
        config: {
          home,
          qualityGates: { minAuc: 0.82, maxCalibrationError: 0.05, maxP99LatencyMs: 50, maxParityGap: 0.05 },
        },
        logger: silentLogger,
      });
      await lab.registry.createModel('credit-risk', 'credit risk');
      await lab.registry.registerVersion(versionInput('credit-risk', 0.86));
      await lab.registry.registerVersion(versionInput('credit-risk', 0.88));
      await lab.deployer.serve('credit-risk', 'production', '1');
      await lab.close();
    });

    it('explains a 50% production canary as needing approval, from the risk the tool computes off the lab', async () => {
      const input = JSON.stringify({
        model: 'credit-risk',
        version: '2',
        environment: 'production',
        trafficPercent: 50,
      });
      const explained = await runCli(['policy', 'explain', '--tool', 'deploy_canary', '--input', input], {
        env: { MLOPS_AGENT_HOME: home },
      });
      expect(explained.code).toBe(4);
      expect(explained.stdout).toMatch(/^decision: require_approval\nrule:     approve-production-canary-above-5/);
      expect(explained.stdout).toContain(
        `risk:     computed by the tool from the lab under ${join(home, 'lab')}: {"environment":"production","trafficPercent":50,"trafficChangePercent":50`,
      );
      // The lab is only read: nothing in it moved.
      const again = await runCli(
        ['policy', 'explain', '--tool', 'deploy_canary', '--input', input, '--risk', '{"trafficPercent":5}'],
        { env: { MLOPS_AGENT_HOME: home } },
      );
      expect(again.code).toBe(4);
      expect(again.stdout).toContain(
        'what if:  with the --risk overrides trafficPercent 5 (computed 50), not what the gate would decide:\n  decision: allow',
      );
      const missing = await runCli(
        ['policy', 'explain', '--tool', 'deploy_canary', '--input', input.replace('"2"', '"9"')],
        { env: { MLOPS_AGENT_HOME: home } },
      );
      expect(missing.code).toBe(2);
      expect(missing.stdout).toContain('not judged: not found in the lab under');
    });

    it('shows a run with what its transcript shows it did, and what serves the model it named now', async () => {
      mkdirSync(join(home, 'runs'));
      copyFileSync(
        new URL('../fixtures/runs/v1-run-needs-attention.json', import.meta.url),
        join(home, 'runs', 'run_fixture_v1_attention.json'),
      );
      const show = await runCli(['runs', 'show', 'run_fixture_v1_attention'], { env: { MLOPS_AGENT_HOME: home } });
      expect(show.code).toBe(0);
      expect(show.stdout).toContain(
        'run run_fixture_v1_attention needs_attention after 2 step(s) with runbook:drift-retrain',
      );
      expect(show.stdout).toContain('  did     Changed nothing. Looked: check_data_quality.');
      expect(show.stdout).toContain(
        'serving now  credit-risk/production: stable v1 100%; last known good v1; no pending approvals',
      );
      const json = JSON.parse(
        (await runCli(['runs', 'show', 'run_fixture_v1_attention', '--json'], { env: { MLOPS_AGENT_HOME: home } }))
          .stdout,
      );
      expect(json.servingNow).toEqual([
        expect.objectContaining({
          model: 'credit-risk',
          environment: 'production',
          stableVersion: '1',
          lastKnownGoodVersion: '1',
        }),
      ]);
      const listed = await runCli(['runs', 'list', '--status', 'needs_attention'], { env: { MLOPS_AGENT_HOME: home } });
      expect(listed.stdout).toMatch(/run_fixture_v1_attention\s+needs_attention\s+alert/);
    });
  });

  it('finds the first tampered entry with audit verify and exits 3', async () => {
    const gemini = await startFakeGeminiServer();
    try {
      gemini.script(
        functionCallReply([{ name: 'registry_query', args: { action: 'list_models' } }]),
        textReply('none'),
      );
      await runCli(['chat', 'models?'], {
        env: { MLOPS_AGENT_HOME: home, GEMINI_API_KEY: 'k', GEMINI_BASE_URL: gemini.baseUrl },
      });
    } finally {
      await gemini.close();
    }
    const file = join(home, 'audit.jsonl');
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    const third = JSON.parse(lines[2]!);
    third.principal = 'user:mallory';
    lines[2] = JSON.stringify(third);
    writeFileSync(file, `${lines.join('\n')}\n`);
    const { code, stdout } = await runCli(['audit', 'verify'], { env: { MLOPS_AGENT_HOME: home } });
    expect(code).toBe(3);
    expect(stdout).toContain('BROKEN at seq 3');
  });
});

describe('npm start: the incident demo on the local lab', () => {
  it('answers a drift alert: checks data, retrains, canaries at 5% and asks for approval to promote', async () => {
    const { code, stdout } = await runCli(['demo'], { env: { MLOPS_AGENT_HOME: home }, timeoutMs: 240_000 });
    expect(code).toBe(0);
    expect(stdout).toMatch(/trained credit-risk v1: AUC 0\.8\d\d/);
    expect(stdout).toMatch(/monitor .* firing ModelDriftDetected/);
    expect(stdout).toMatch(
      /ok\s+check_data_quality: credit-recent: 4000 rows, passed its data contract "credit"; drift against credit-train: \d+ alert\(s\), \d+ warning\(s\) .*\(drift only\)/,
    );
    // The demo runs one run in one process: it waits for the job and the canary where it runs.
    expect(stdout).toMatch(/WAITING\s+trigger_retrain: training job job-\S+ running; the run waits for it \(until /);
    expect(stdout).toMatch(/ok\s+trigger_retrain: .* registered v2 \(AUC 0\.\d+, promotable\) \(after \d+\.\d s\)/);
    expect(stdout).toMatch(
      /WAITING\s+deploy_canary: canary of credit-risk v2 stepping up to 5% in production; the run waits for it/,
    );
    expect(stdout).toMatch(/ok\s+deploy_canary: credit-risk production: canary v2 at 5% of target 5%, paused/);
    expect(stdout).toMatch(/NEEDS APPROVAL\s+deploy_canary: Sending 100% of production traffic/);
    expect(stdout).toContain('serving   credit-risk/production: stable v1, canary v2 at 5%');
    expect(stdout).toMatch(/audit log intact: \d+ entries/);
  });

  it('promotes once an ML lead and a risk officer approve, with --approve-as', async () => {
    const { code, stdout } = await runCli(['demo', '--approve-as', 'user:alice,user:carol'], {
      env: { MLOPS_AGENT_HOME: home },
      timeoutMs: 240_000,
    });
    expect(code).toBe(0);
    expect(stdout).toMatch(/NEEDS APPROVAL\s+deploy_canary: Sending 100% of production traffic/);
    expect(stdout).toMatch(
      /approve   user:alice \[ml-leads\] approves deploy_canary \(apr_\S+\): recorded; 1 more approval\(s\), including one from each of \[risk-officers\]/,
    );
    expect(stdout).toMatch(/approve   user:carol \[risk-officers\] approves deploy_canary \(apr_\S+\): granted/);
    expect(stdout).toMatch(/ok\s+deploy_canary: credit-risk production: canary v2 at 100% of target 100%, promoted/);
    expect(stdout).toContain('serving   credit-risk/production: stable v2; last known good v2');
    const audit = readFileSync(join(home, 'audit.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { kind: string; data: { tool?: string } });
    // The promotion executed once, after the grant.
    const kinds = audit.map((e) => e.kind);
    expect(kinds.indexOf('approval.granted')).toBeGreaterThan(-1);
    expect(audit.filter((e) => e.kind === 'execution.started' && e.data.tool === 'deploy_canary')).toHaveLength(2);
    expect(kinds.lastIndexOf('execution.started')).toBeGreaterThan(kinds.indexOf('approval.granted'));
    expect(stdout).toMatch(/audit log intact/);
  });

  it('refuses to train on income exported in thousands: the contract range rule fails the data before training (bad-canary)', async () => {
    const { code, stdout } = await runCli(['demo', '--scenario', 'bad-canary'], {
      env: { MLOPS_AGENT_HOME: home },
      timeoutMs: 240_000,
    });
    expect(code).toBe(0);
    expect(stdout).toMatch(
      /ok\s+check_data_quality: credit-recent: 4000 rows, FAILED its data contract "credit": hard rule\(s\) income\.range, loan-within-20x-income broken \(income\.range: \d+ row\(s\), e\.g\. row 1: income=\d+\.?\d*\)/,
    );
    expect(stdout).toMatch(
      /Runbook drift-retrain .* stopped at step broken_data for a person: The recent data breaks a rule of its data contract/,
    );
    expect(stdout).toMatch(
      /- check: hard rule income\.range \(.*contracts\/credit\.yaml:\d+\): \d+ of 4000 values of "income" fall outside/,
    );
    expect(stdout).toMatch(/run run_\S+ needs_attention after/);
    expect(stdout).toMatch(
      /data {6}credit-recent breaks hard rule income\.range \(contracts\/credit\.yaml:\d+\) in \d+ of 4000 rows; e\.g\. row 1: income=/,
    );
    expect(stdout).toMatch(
      /REFUSED {3}trigger_retrain: The training data credit-recent broke hard rule\(s\) income\.range, loan-within-20x-income of its data contract.* \[rule deny-retrain-on-failed-data\]/,
    );
    // Nothing was trained: no job, no v2, and v1 still serves.
    expect(stdout).not.toMatch(/training job|registered v2/);
    expect(stdout).toContain('serving   credit-risk/production: stable v1; last known good v1');
    const audit = readFileSync(join(home, 'audit.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map(
        (l) => JSON.parse(l) as { kind: string; data: { tool?: string; risk?: { data?: { failedChecks: string[] } } } },
      );
    expect(audit.filter((e) => e.kind === 'execution.started' && e.data.tool === 'trigger_retrain')).toEqual([]);
    expect(
      audit.find((e) => e.kind === 'policy.decision' && e.data.tool === 'trigger_retrain')!.data.risk!.data!
        .failedChecks,
    ).toEqual(['income.range', 'loan-within-20x-income']);
    expect(stdout).toMatch(/audit log intact/);
  });

  it('rolls back a candidate that passes the data contract and every offline gate but fails its canary analysis (canary-regression)', async () => {
    const { code, stdout } = await runCli(['demo', '--scenario', 'canary-regression'], {
      env: { MLOPS_AGENT_HOME: home },
      timeoutMs: 240_000,
    });
    expect(code).toBe(0);
    expect(stdout).toMatch(
      /check_data_quality: credit-recent: 4000 rows, passed its data contract "credit";.*psi\(credit_history_months\).*\(drift only\)/,
    );
    expect(stdout).toMatch(/registered v2 \(AUC 0\.\d+, promotable\)/);
    expect(stdout).toMatch(
      /deploy_canary: credit-risk production: canary v2 at 0% of target 5%, rolled_back \(failed: [a-z_, ]*score_psi/,
    );
    expect(stdout).toContain('serving   credit-risk/production: stable v1; last known good v1');
    expect(stdout).toMatch(/audit log intact/);
  });
});
