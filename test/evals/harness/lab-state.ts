// A scenario's starting lab. The champion (credit-risk v1, trained once per eval process on
// 2,000 generated applications) is copied into each scenario's fresh home, so a scenario
// starts in milliseconds, not a training run; then the scenario's own state is laid on:
// more versions, a held canary, datasets with or without faults, pending approvals.
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  generateCreditRows,
  generateQuotes,
  openLocalLab,
  QUOTE_COLUMNS,
  writeDataset,
  type LocalLab,
} from '../../../src/backends/local/index.js';
import type { Gate } from '../../../src/gate/index.js';
import { silentLogger } from '../../../src/logger.js';
import { evalConfig } from './runtime.js';
import type { Scenario } from './scenario.js';

export const MODEL = 'credit-risk';
export const ENVIRONMENT = 'production';

/** YYYY-MM-DD `days` before today: the contracts want fresh data. */
export function daysAgo(days: number): string {
  return new Date(Date.now() - days * 86_400_000).toISOString().slice(0, 10);
}

/** A home with credit-train and credit-risk v1 trained on it; made once, copied per scenario. */
export async function makeTemplateHome(): Promise<string> {
  const home = await mkdtemp(join(tmpdir(), 'mlops-eval-template-'));
  const config = evalConfig(home, { kind: 'runbook' });
  const lab = await openLocalLab({ config, logger: silentLogger });
  try {
    await writeDataset(
      lab.dirs.datasets,
      'credit-train',
      generateCreditRows({ seed: 1, rows: 2000, startDate: daysAgo(200), days: 150 }),
    );
    await lab.registry.createModel(MODEL, 'Probability of default for consumer credit applications');
    const job = await lab.trainer.start({
      model: MODEL,
      dataset: 'credit-train',
      params: {},
      requestedBy: 'eval:seed',
    });
    const done = await lab.trainer.waitFor(job.jobId, { timeoutMs: 120_000 });
    if (done.status !== 'succeeded' || done.version !== '1')
      throw new Error(`training the eval champion failed: ${done.error ?? done.status}`);
  } finally {
    await lab.close();
  }
  return home;
}

/** A fresh home holding the template's datasets and registry (nothing served yet). */
export async function freshHome(template: string, name: string): Promise<string> {
  const home = await mkdtemp(join(tmpdir(), `mlops-eval-${name}-`));
  for (const dir of ['datasets', 'registry'])
    await cp(join(template, 'lab', dir), join(home, 'lab', dir), { recursive: true });
  return home;
}

export async function removeHome(home: string): Promise<void> {
  await rm(home, { recursive: true, force: true });
}

/** Lays the scenario's lab state on: v1 serves production and is champion, then the rest. */
export async function seedLab(lab: LocalLab, gate: Gate, scenario: Scenario): Promise<void> {
  const state = scenario.lab;
  await lab.registry.setAlias(MODEL, 'champion', '1', 'eval:seed', 'initial champion');
  await lab.deployer.serve(MODEL, ENVIRONMENT, '1', 'eval:seed');
  const meta = (await lab.registry.getVersion(MODEL, '1'))!;
  const artifact = await lab.registry.loadArtifact(MODEL, '1');
  for (const v of state.versions) {
    const qualityGates = !v.evaluated
      ? []
      : meta.qualityGates.map((g) =>
          g.gate === v.failsGate
            ? { ...g, value: g.direction === 'min' ? g.threshold - 0.3 : g.threshold * 3, passed: false }
            : g,
        );
    const metrics = !v.evaluated
      ? {}
      : v.failsGate
        ? { ...meta.metrics, [v.failsGate]: qualityGates.find((g) => g.gate === v.failsGate)!.value }
        : meta.metrics;
    const registered = await lab.registry.registerVersion({
      ...meta,
      metrics,
      qualityGates,
      createdBy: 'eval:seed',
      artifact: v.broken ? { ...artifact, weights: [] } : artifact,
    });
    if (registered.version !== v.version)
      throw new Error(
        `${scenario.file}: lab.versions lists ${v.version}, but the registry numbered it ${registered.version}: list versions in order from 2`,
      );
  }
  for (const d of state.datasets) {
    if (d.kind === 'credit') {
      const drift = d.drift ? { incomeShift: 0.75, utilizationShift: 0.2, conceptShift: 1 } : undefined;
      const rows = generateCreditRows({
        seed: d.seed,
        rows: d.rows,
        startDate: daysAgo(d.daysAgo + d.days),
        days: d.days,
        ...(drift ? { drift } : {}),
        ...(d.faults.incomeUnit ? { incomeUnit: d.faults.incomeUnit } : {}),
      });
      const every = d.faults.missingIncomeRate ? Math.max(1, Math.round(1 / d.faults.missingIncomeRate)) : 0;
      await writeDataset(
        lab.dirs.datasets,
        d.name,
        every ? (rows.map((row, i) => (i % every === 0 ? { ...row, income: null } : row)) as typeof rows) : rows,
      );
    } else {
      const start = new Date(Date.now() - (d.minutes + 60) * 60_000).toISOString().slice(0, 16) + ':00Z';
      await writeDataset(
        lab.dirs.datasets,
        d.name,
        generateQuotes({ seed: d.seed, start, minutes: d.minutes, faults: d.faults }),
        QUOTE_COLUMNS,
      );
    }
  }
  if (state.canary) {
    await lab.deployer.startCanary({
      model: MODEL,
      version: state.canary.version,
      environment: ENVIRONMENT,
      targetPercent: state.canary.percent,
      requestedBy: 'eval:seed',
      timeoutMs: 60_000,
    });
    await lab.deployer.waitForRollout(MODEL, ENVIRONMENT, { timeoutMs: 30_000 });
  }
  for (const [i, p] of state.pendingApprovals.entries()) {
    const outcome = await gate.call({
      runId: null,
      callId: `eval-seed-${i}`,
      principal: { id: p.as, roles: [] },
      tool: p.tool,
      args: p.args,
    });
    if (outcome.status !== 'pending_approval')
      throw new Error(
        `${scenario.file}: lab.pendingApprovals[${i}] was meant to wait for approval, but the gate answered ${outcome.status}`,
      );
  }
}
