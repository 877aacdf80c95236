// The five tools, through the gate with the shipped policy and a real audit log, acting on
// the local lab: real files, real training in a worker thread, real HTTP serving.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allTools } from '../../../tools/index.js';
import { openFileAuditLog, readAuditEntries, verifyAuditFile, type AuditLog } from '../../../src/audit/index.js';
import {
  createTrafficSimulator,
  generateCreditRows,
  generateQuotes,
  openLocalLab,
  QUOTE_COLUMNS,
  writeDataset,
  type LocalLab,
  type ModelServer,
  type TrafficSimulator,
} from '../../../src/backends/local/index.js';
import { silentLogger } from '../../../src/logger.js';
import { defaultPolicyDir } from '../../../src/paths.js';
import { daysAgo } from '../../support/dates.js';
import { createGate, type Gate, type GateOutcome } from '../../../src/gate/index.js';
import { createPolicyStore } from '../../../src/policy/index.js';

const principal = { id: 'user:alice', roles: [] };
let home: string;
let lab: LocalLab;
let audit: AuditLog;
let gate: Gate;
let server: ModelServer;
let traffic: TrafficSimulator;
let n = 0;

async function call(tool: string, args: unknown): Promise<GateOutcome> {
  return gate.call({ runId: 'tools-on-lab', callId: `c${++n}`, principal, tool, args });
}

function executed(outcome: GateOutcome): Record<string, unknown> {
  if (outcome.status !== 'executed') throw new Error(`expected executed, got ${JSON.stringify(outcome)}`);
  return outcome.output as Record<string, unknown>;
}

beforeAll(async () => {
  home = mkdtempSync(join(tmpdir(), 'mlops-tools-lab-'));
  lab = await openLocalLab({
    config: {
      home,
      qualityGates: { minAuc: 0.82, maxCalibrationError: 0.05, maxP99LatencyMs: 50, maxParityGap: 0.05 },
    },
    logger: silentLogger,
    // Enough labelled traffic per step that the accuracy comparison is not a coin toss on a
    // busy machine; the retrained version is far better on this traffic.
    analysis: {
      minRequestsPerStep: 200,
      minLabelsPerStep: 200,
      minAccuracyDelta: -0.05,
      maxScoreShiftPsi: 1,
      stepTimeoutMs: 60_000,
    },
    steps: [10, 50, 100],
  });
  await writeDataset(
    lab.dirs.datasets,
    'credit-train',
    generateCreditRows({ seed: 11, rows: 5000, startDate: daysAgo(150), days: 90 }),
  );
  const recent = generateCreditRows({
    seed: 12,
    rows: 5000,
    startDate: daysAgo(30),
    days: 30,
    drift: { incomeShift: 0.75, utilizationShift: 0.2, conceptShift: 1 },
  });
  await writeDataset(lab.dirs.datasets, 'credit-recent', recent);
  const job = await lab.trainer.start({
    model: 'credit-risk',
    dataset: 'credit-train',
    params: {},
    requestedBy: 'test:setup',
  });
  const v1 = await lab.trainer.waitFor(job.jobId, { timeoutMs: 120_000 });
  await lab.registry.setAlias('credit-risk', 'champion', v1.version!, 'test:setup', 'seed');
  await lab.deployer.serve('credit-risk', 'staging', v1.version!);
  server = await lab.serve({ host: '127.0.0.1', port: 0 });
  traffic = createTrafficSimulator({
    url: server.url,
    model: 'credit-risk',
    environment: 'staging',
    rows: recent,
    feedbackDelayMs: 50,
    concurrency: 4,
  });
  traffic.start(400);

  audit = await openFileAuditLog({ file: join(home, 'audit.jsonl') });
  const policy = await createPolicyStore({
    files: [join(defaultPolicyDir, 'default.yaml')],
    knownTools: allTools.map((t) => t.name),
  });
  gate = createGate({ tools: allTools, backends: lab, policy: (req) => policy.evaluate(req), audit });
});

afterAll(async () => {
  await traffic?.stop();
  await audit?.close();
  await lab?.close();
  rmSync(home, { recursive: true, force: true });
});

// One story, step by step (each step uses what the last one made), so its order is fixed even when tests are shuffled.
describe('the five tools on the local lab', { shuffle: false }, () => {
  it('registry_query lists the model with its champion', async () => {
    const out = executed(await call('registry_query', { action: 'list_models' }));
    expect(out.models).toEqual([
      expect.objectContaining({ name: 'credit-risk', aliases: { champion: '1' }, versionCount: 1 }),
    ]);
  });

  it('check_data_quality passes the recent data against its contract and finds the drift against the training reference', async () => {
    const out = executed(await call('check_data_quality', { dataset: 'credit-recent' }));
    const findings = out.findings as { check: string; column: string | null; severity: string }[];
    expect(out).toMatchObject({
      dataset: 'credit-recent',
      rows: 5000,
      reference: 'credit-train',
      passed: true,
      violations: [],
      contract: { name: 'credit' },
    });
    expect(out.verdict).toEqual({ passed: true, failedChecks: [], softFailures: [], driftOnly: true, drifted: true });
    expect(findings).toContainEqual(
      expect.objectContaining({ check: 'psi', column: 'credit_utilization', severity: 'alert' }),
    );
  });

  it('check_data_quality checks the second data kind, bid/ask quotes, against its contract', async () => {
    // An hour of quotes ending now, with 4 crossed quotes a minute for 2 minutes (2 are tolerated).
    // Whole minutes, so each minute's crossed quotes fall into one window of the rule.
    const start = new Date(Math.floor(Date.now() / 60_000) * 60_000 - 3_600_000).toISOString();
    await writeDataset(
      lab.dirs.datasets,
      'quotes-today',
      generateQuotes({
        seed: 5,
        start,
        minutes: 60,
        faults: { crossed: { fromMinute: 30, minutes: 2, perMinute: 4 } },
      }),
      QUOTE_COLUMNS,
    );
    const out = executed(await call('check_data_quality', { dataset: 'quotes-today' }));
    expect(out).toMatchObject({
      dataset: 'quotes-today',
      rows: 2160,
      contract: { name: 'quotes' },
      passed: false,
      verdict: { failedChecks: ['crossed-quotes'], driftOnly: false },
    });
    expect((out.violations as { rule: string; rowsAffected: number }[])[0]).toMatchObject({
      rule: 'crossed-quotes',
      rowsAffected: 8,
    });
  });

  it('trigger_retrain really trains and registers a promotable version with lineage', async () => {
    const out = executed(
      await call('trigger_retrain', { model: 'credit-risk', dataset: 'credit-recent', searchTrials: 2 }),
    );
    expect(out).toMatchObject({ status: 'succeeded', version: '2', promotable: true, failedQualityGates: [] });
    const v2 = await lab.registry.getVersion('credit-risk', '2');
    const verdict = await lab.dataQuality.verdict('credit-recent');
    expect(v2).toMatchObject({
      dataset: 'credit-recent',
      createdBy: 'user:alice',
      trainingJobId: out.jobId,
      dataVersion: verdict.dataVersion,
      dataQualityReport: verdict.reportHash,
    });
    expect(out.dataQualityReport).toBe(verdict.reportHash);
    expect((out.metrics as Record<string, number>).auc).toBeGreaterThan(0.82);
  });

  it('registry_query compares the new version with the champion', async () => {
    const out = executed(await call('registry_query', { action: 'compare', model: 'credit-risk', version: '2' }));
    const comparison = out.comparison as {
      base: { version: string };
      candidate: { version: string };
      sameData: boolean;
      metricDeltas: Record<string, number>;
    };
    expect(comparison.base.version).toBe('1');
    expect(comparison.sameData).toBe(false);
    expect(typeof comparison.metricDeltas.auc).toBe('number');
  });

  it('deploy_canary steps a staging canary up to its target over live HTTP traffic', async () => {
    const out = executed(
      await call('deploy_canary', { model: 'credit-risk', version: '2', environment: 'staging', trafficPercent: 50 }),
    );
    expect(out, JSON.stringify(out.analyses)).toMatchObject({
      status: 'paused',
      canaryVersion: '2',
      canaryPercent: 50,
      targetPercent: 50,
    });
    expect((out.analyses as { passed: boolean }[]).map((a) => a.passed)).toEqual([true, true]);
    expect(traffic.counts().byVersion['2']).toBeGreaterThan(0);
  });

  it('rollback sends all traffic back to the last known-good version at once', async () => {
    const out = executed(
      await call('rollback', { model: 'credit-risk', environment: 'staging', reason: 'test of the rollback tool' }),
    );
    expect(out).toMatchObject({ stableVersion: '1', canaryVersion: null, canaryPercent: 0, lastKnownGoodVersion: '1' });
    expect(await lab.deployer.getSplit('credit-risk', 'staging')).toMatchObject({
      canaryVersion: null,
      canaryPercent: 0,
    });
  });

  it('recorded every call in an intact audit chain, the long-running ones with their wait', async () => {
    const result = await verifyAuditFile(join(home, 'audit.jsonl'));
    expect(result).toMatchObject({ ok: true });
    // Proposed, decided, started, finished; training and the canary also recorded what they waited for.
    const waiting = (await readAuditEntries(join(home, 'audit.jsonl'))).filter((e) => e.kind === 'execution.waiting');
    expect(waiting.map((e) => e.data.tool)).toEqual(['trigger_retrain', 'deploy_canary']);
    expect(result.entries).toBe(7 * 4 + 2);
  });
});
