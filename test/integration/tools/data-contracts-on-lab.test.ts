// Data contracts through the real gate on the real lab: a scripted planner proposes
// training, the shipped policy reads the stored verdict on the data's exact content, and
// the trainer holds the line again behind a policy that lets everything through.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allTools } from '../../../tools/index.js';
import type { TranscriptItem } from '../../../src/agent/planner.js';
import type { Run } from '../../../src/agent/run.js';
import { createFileRunStore } from '../../../src/agent/run-store.js';
import { openFileAuditLog, readAuditEntries, verifyAuditFile, type AuditLog } from '../../../src/audit/index.js';
import { generateCreditRows, openLocalLab, writeDataset, type LocalLab } from '../../../src/backends/local/index.js';
import { silentLogger } from '../../../src/logger.js';
import { defaultPolicyDir } from '../../../src/paths.js';
import { createGate } from '../../../src/gate/index.js';
import { createPolicyStore } from '../../../src/policy/index.js';
import { daysAgo } from '../../support/dates.js';
import { answer, call, scriptedPlanner, type ScriptedTurn } from '../../support/scripted-planner.js';
import { testAgent, testLimits } from '../../support/agent-fixture.js';

let home: string;
let lab: LocalLab;
let audit: AuditLog;
let n = 0;

beforeAll(async () => {
  home = mkdtempSync(join(tmpdir(), 'mlops-contracts-lab-'));
  lab = await openLocalLab({
    config: {
      home,
      qualityGates: { minAuc: 0.82, maxCalibrationError: 0.05, maxP99LatencyMs: 50, maxParityGap: 0.05 },
    },
    logger: silentLogger,
  });
  const recent = { startDate: daysAgo(30), days: 30 };
  await writeDataset(
    lab.dirs.datasets,
    'credit-train',
    generateCreditRows({ seed: 31, rows: 3000, startDate: daysAgo(150), days: 90 }),
  );
  // The bad-canary export: income in thousands.
  await writeDataset(
    lab.dirs.datasets,
    'credit-kusd',
    generateCreditRows({ seed: 32, rows: 3000, ...recent, incomeUnit: 'kusd' }),
  );
  // Drifted, and valid: incomes fell, utilisation rose.
  await writeDataset(
    lab.dirs.datasets,
    'credit-drifted',
    generateCreditRows({ seed: 33, rows: 3000, ...recent, drift: { incomeShift: 0.75, utilizationShift: 0.2 } }),
  );
  audit = await openFileAuditLog({ file: join(home, 'audit.jsonl') });
});

afterAll(async () => {
  await audit?.close();
  await lab?.close();
  rmSync(home, { recursive: true, force: true });
});

async function runWith(turns: ScriptedTurn[], policyFile = join(defaultPolicyDir, 'default.yaml')): Promise<Run> {
  const policy = await createPolicyStore({ files: [policyFile], knownTools: allTools.map((t) => t.name) });
  const gate = createGate({ tools: allTools, backends: lab, policy: (req) => policy.evaluate(req), audit });
  const agent = testAgent({
    gate,
    audit,
    runs: createFileRunStore(join(home, 'runs')),
    plannerFor: () => scriptedPlanner(turns),
    limits: { ...testLimits, maxWallMs: 120_000 },
  });
  return agent.start(
    { kind: 'chat', principal: { id: 'user:alice', roles: [] }, text: 'retrain credit-risk', data: null },
    `run_contracts_${++n}`,
  );
}

/** How each call ended: its result, or for a training job the run waited for, the end of that wait. */
const results = (run: Run) =>
  run.transcript.flatMap((i): { outcome: Extract<TranscriptItem, { kind: 'result' }>['outcome'] }[] => {
    if (i.kind !== 'result') return [];
    const waited = run.transcript.find((w) => w.kind === 'wait' && w.callId === i.callId);
    return [waited?.kind === 'wait' ? { outcome: waited.outcome } : { outcome: i.outcome }];
  });
const decisionsOf = async (runId: string) =>
  (await readAuditEntries(join(home, 'audit.jsonl'))).filter((e) => e.runId === runId && e.kind === 'policy.decision');
const retrain = (dataset: string) => call('trigger_retrain', { model: 'credit-risk', dataset, params: { epochs: 5 } });

describe('data contracts through the gate on the lab', { shuffle: false }, () => {
  it('refuses training on unchecked, then on contract-violating data, naming the broken rules, and registers no version', async () => {
    const run = await runWith([
      retrain('credit-kusd'),
      call('check_data_quality', { dataset: 'credit-kusd' }),
      retrain('credit-kusd'),
      answer('refused twice'),
    ]);
    const [unchecked, check, failed] = results(run);
    expect(unchecked!.outcome).toMatchObject({
      status: 'refused',
      ruleId: 'deny-retrain-on-unchecked-data',
      reason: expect.stringContaining('run check_data_quality on the dataset first'),
    });
    expect(check!.outcome).toMatchObject({
      status: 'executed',
      output: { passed: false, verdict: { failedChecks: ['income.range', 'loan-within-20x-income'] } },
    });
    expect(check!.outcome.status === 'executed' && check!.outcome.summary).toMatch(
      /FAILED its data contract "credit": hard rule\(s\) income\.range, loan-within-20x-income broken \(income\.range: 29\d\d row\(s\), e\.g\. row 1: income=\d+(\.\d+)?\)/,
    );
    expect(failed!.outcome).toEqual({
      status: 'refused',
      ruleId: 'deny-retrain-on-failed-data',
      reason:
        'The training data credit-kusd broke hard rule(s) income.range, loan-within-20x-income of its data contract; fix the data upstream (check_data_quality lists the rows), then check it again.',
    });
    // The audit entry carries the data verdict the policy read.
    const decisions = await decisionsOf(run.id);
    expect(decisions.at(-1)!.data).toMatchObject({
      tool: 'trigger_retrain',
      decision: { effect: 'deny', ruleId: 'deny-retrain-on-failed-data' },
      risk: {
        data: {
          dataset: 'credit-kusd',
          checked: true,
          passed: false,
          failedChecks: ['income.range', 'loan-within-20x-income'],
          driftOnly: false,
        },
      },
    });
    expect(decisions[0]!.data).toMatchObject({
      risk: { data: { dataset: 'credit-kusd', checked: false, passed: false } },
    });
    expect(await lab.registry.listModels()).toEqual([]);
    expect(await readdir(lab.dirs.jobs).catch(() => [])).toEqual([]);
  });

  it('allows training on drifted but valid data once checked, and records the report in the lineage', async () => {
    const run = await runWith([
      call('check_data_quality', { dataset: 'credit-drifted' }),
      retrain('credit-drifted'),
      answer('trained'),
    ]);
    const [check, trained] = results(run);
    const report =
      check!.outcome.status === 'executed'
        ? (check!.outcome.output as { reportHash: string; dataVersion: string; verdict: unknown })
        : null;
    expect(report!.verdict).toEqual({
      passed: true,
      failedChecks: [],
      softFailures: [],
      driftOnly: true,
      drifted: true,
    });
    expect(trained!.outcome).toMatchObject({
      status: 'executed',
      output: { status: 'succeeded', version: '1', dataQualityReport: report!.reportHash },
    });
    expect(await lab.registry.getVersion('credit-risk', '1')).toMatchObject({
      dataset: 'credit-drifted',
      dataVersion: report!.dataVersion,
      dataQualityReport: report!.reportHash,
    });
    const decision = (await decisionsOf(run.id)).find((e) => e.data.tool === 'trigger_retrain')!;
    expect(decision.data).toMatchObject({
      decision: { ruleId: 'allow-retrain' },
      risk: {
        data: { dataset: 'credit-drifted', version: report!.dataVersion, checked: true, passed: true, driftOnly: true },
      },
    });
  });

  it('treats data changed since its check as never checked', async () => {
    await writeDataset(
      lab.dirs.datasets,
      'credit-drifted',
      generateCreditRows({ seed: 34, rows: 3000, startDate: daysAgo(30), days: 30, drift: { incomeShift: 0.75 } }),
    );
    const run = await runWith([retrain('credit-drifted'), answer('refused')]);
    expect(results(run)[0]!.outcome).toMatchObject({ status: 'refused', ruleId: 'deny-retrain-on-unchecked-data' });
  });

  it('behind a policy that lets every retrain through, the trainer still refuses the broken data, naming the rule', async () => {
    const permissive = join(home, 'permissive.yaml');
    writeFileSync(
      permissive,
      'apiVersion: mlops-agent/v1\nkind: Policy\nmetadata: { name: permissive }\nrules:\n  - id: allow-all\n    tools: "*"\n    effect: allow\n    reason: test only\n',
    );
    // Never checked: the job starts, its worker checks the data and fails the job.
    await writeDataset(
      lab.dirs.datasets,
      'credit-kusd-again',
      generateCreditRows({ seed: 35, rows: 3000, startDate: daysAgo(30), days: 30, incomeUnit: 'kusd' }),
    );
    const run = await runWith([retrain('credit-kusd'), retrain('credit-kusd-again'), answer('tried')], permissive);
    const [reported, unchecked] = results(run);
    // Its stored report failed: refused when the job would start, no job at all.
    expect(reported!.outcome).toMatchObject({
      status: 'failed',
      error: expect.stringMatching(
        /dataset "credit-kusd" breaks hard rule "income\.range" of data contract "credit" \(.*credit\.yaml:\d+\)/,
      ),
    });
    expect(unchecked!.outcome).toMatchObject({
      status: 'executed',
      output: {
        status: 'failed',
        version: null,
        error: expect.stringMatching(
          /^dataset "credit-kusd-again" breaks hard rule "income\.range" of data contract "credit" \(.*credit\.yaml:\d+\)/,
        ),
      },
    });
    expect((await lab.registry.listVersions('credit-risk')).map((v) => v.dataset)).toEqual(['credit-drifted']);
    expect((await verifyAuditFile(join(home, 'audit.jsonl'))).ok).toBe(true);
  });
});
