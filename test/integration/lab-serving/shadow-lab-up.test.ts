// A shadow on the lab as `mlops-agent lab up` runs it: seeded models, live traffic and
// delayed labels from the lab's own generator, and the tools acting through the deployer
// link, as `serve` does, with the shipped policy at the gate.
import { mkdtempSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allTools, type Shadow } from '../../../tools/index.js';
import { openLocalLab, type LocalLab } from '../../../src/backends/local/index.js';
import { createDeployerLink } from '../../../src/backends/local/lab-deployer-link.js';
import { seedLab, LAB_MODELS } from '../../../src/backends/local/lab-seed.js';
import { startLabUp, type LabUp } from '../../../src/backends/local/lab-up.js';
import { openFileAuditLog, type AuditLog } from '../../../src/audit/index.js';
import { systemClock } from '../../../src/clock.js';
import { createFileExecutions, createGate, type Gate } from '../../../src/gate/index.js';
import { silentLogger } from '../../../src/logger.js';
import { createPolicyStore } from '../../../src/policy/index.js';
import { defaultPolicyDir } from '../../../src/paths.js';
import { eventually } from '../../support/eventually.js';

const MODEL = LAB_MODELS.credit.model;
const AGENT = { id: 'agent:runbook', roles: [] };

let home: string;
let lab: LocalLab;
let up: LabUp;
let audit: AuditLog;
let gate: Gate;

beforeAll(async () => {
  home = mkdtempSync(join(tmpdir(), 'mlops-shadow-lab-up-'));
  lab = await openLocalLab({
    config: {
      home,
      qualityGates: { minAuc: 0.82, maxCalibrationError: 0.05, maxP99LatencyMs: 50, maxParityGap: 0.05 },
    },
    logger: silentLogger,
    analysis: { minRequestsPerStep: 100, minLabelsPerStep: 50 },
  });
  await seedLab(lab, () => undefined);
  up = await startLabUp(
    lab,
    {
      host: '127.0.0.1',
      ports: { control: 0, credit: 0, trading: 0 },
      ratePerSecond: 200,
      labelDelayMs: 200,
      windowMs: 60_000,
    },
    silentLogger,
  );
  // `serve`'s view of the lab: its deployer over HTTP, everything else on disk.
  const deployer = createDeployerLink({ url: up.record.control, token: up.record.token });
  audit = await openFileAuditLog({ file: join(home, 'audit.jsonl'), clock: systemClock });
  const policy = await createPolicyStore({
    files: [join(defaultPolicyDir, 'default.yaml')],
    knownTools: allTools.map((t) => t.name),
  });
  gate = createGate({
    tools: allTools,
    backends: { registry: lab.registry, trainer: lab.trainer, dataQuality: lab.dataQuality, deployer },
    policy: (req) => policy.evaluate(req),
    audit,
    clock: systemClock,
    executions: createFileExecutions(join(home, 'executions')),
  });
}, 240_000);

afterAll(async () => {
  await up?.close();
  await lab?.close();
  await audit?.close();
  if (home) await rm(home, { recursive: true, force: true });
});

describe('a shadow under lab up', () => {
  it('mirrors live traffic to the seeded candidate, answers from the champion, and judges it as labels come back', async () => {
    const split = (await lab.deployer.getSplit(MODEL, 'production'))!;
    const candidate = (await lab.registry.listVersions(MODEL)).find(
      (v) => v.promotable && v.version !== split.stableVersion,
    )!.version;
    const outcome = await gate.call({
      runId: 'run-lab-up',
      callId: 'shadow-1',
      principal: AGENT,
      tool: 'deploy_shadow',
      args: { model: MODEL, version: candidate, environment: 'production', mirrorPercent: 50 },
    });
    expect(outcome).toMatchObject({ status: 'executed', decision: { ruleId: 'allow-shadow' } });

    const judged = await eventually(
      'the shadow judged with accuracy from labels',
      async () => {
        const s = (await lab.deployer.shadows(MODEL, 'production')).find((x) => x.version === candidate)!;
        const a = s.analysis;
        return a && a.verdict !== 'inconclusive' && a.checks.some((c) => c.check === 'accuracy') ? s : undefined;
      },
      60_000,
      200,
    );
    expect(judged.analysis!.stableVersion).toBe(split.stableVersion);
    expect(judged.analysis!.labelled).toBeGreaterThanOrEqual(50);
    // Customers got the champion's answers only: no request was served by the candidate.
    expect(lab.stats.window(MODEL, 'production', candidate).requests).toBe(0);
    expect(lab.stats.window(MODEL, 'production', split.stableVersion).requests).toBeGreaterThan(0);

    // What serves, as serve reads it through the link and the gate.
    const status = await gate.call({
      runId: 'run-lab-up',
      callId: 'status-1',
      principal: AGENT,
      tool: 'deployment_status',
      args: { model: MODEL, environment: 'production' },
    });
    const view = (status as { output: { views: { shadows: Shadow[] }[] } }).output.views[0]!;
    expect(view.shadows[0]).toMatchObject({
      version: candidate,
      status: 'running',
      analysis: { verdict: expect.stringMatching(/passed|failed/) },
    });
    const labStatus = (await (await fetch(`${up.record.control}/status`)).json()) as {
      models: { model: string; shadows: { version: string; mirrorPercent: number }[] }[];
    };
    expect(labStatus.models.find((m) => m.model === MODEL)!.shadows).toEqual([
      expect.objectContaining({ version: candidate, mirrorPercent: 50 }),
    ]);

    // The lab's gauges, as Prometheus scrapes them.
    const metrics = await (await fetch(`${up.record.control}/metrics`)).text();
    const labels = `model="${MODEL}",environment="production",version="${candidate}"`;
    expect(metrics).toContain(`mlops_lab_shadow_mirror_percent{${labels}} 50`);
    const withStable = `${labels},stable_version="${split.stableVersion}"`;
    expect(metrics).toMatch(new RegExp(`mlops_lab_shadow_mirrored_requests\\{${withStable}\\} [1-9]`));
    expect(metrics).toMatch(new RegExp(`mlops_lab_shadow_score_psi\\{${withStable}\\} \\d`));
    expect(metrics).toMatch(new RegExp(`mlops_lab_shadow_accuracy_delta\\{${withStable}\\} -?\\d`));

    const ended = await gate.call({
      runId: 'run-lab-up',
      callId: 'end-1',
      principal: AGENT,
      tool: 'end_shadow',
      args: { model: MODEL, environment: 'production', reason: 'seen enough' },
    });
    expect(ended).toMatchObject({
      status: 'executed',
      decision: { ruleId: 'allow-end-shadow' },
      output: { noop: false, shadow: { version: candidate, status: 'ended' } },
    });
    expect(lab.deployer.currentShadows(MODEL, 'production')).toEqual([]);
  });
});
