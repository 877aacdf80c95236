// Issue 6's promise, end to end on the local lab: while a promotion waits for approval, an
// alert about the held canary rolls it back at once. The alert comes from the lab monitor,
// the run plans with the canary-rollback runbook, and every call goes through the real
// gate with the shipped policy and a real audit log.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readAuditEntries, verifyAuditFile } from '../../../src/audit/index.js';
import {
  createMonitor,
  createTrafficSimulator,
  generateCreditRows,
  openLocalLab,
  writeDataset,
  type AlertmanagerPayload,
  type LocalLab,
  type TrafficSimulator,
} from '../../../src/backends/local/index.js';
import { systemClock } from '../../../src/clock.js';
import { loadConfig } from '../../../src/app/config.js';
import { alertmanagerTrigger } from '../../../src/intake/alertmanager-payload.js';
import { silentLogger } from '../../../src/logger.js';
import { createRuntime, type Runtime } from '../../../src/app/runtime.js';
import { daysAgo } from '../../support/dates.js';

const MODEL = 'credit-risk';
const alice = { id: 'user:alice', roles: [] };

describe('an alert about a held canary', () => {
  let home: string;
  let lab: LocalLab;
  let runtime: Runtime;
  let traffic: TrafficSimulator;
  let v1: string;
  let v2: string;
  let trainRows: ReturnType<typeof generateCreditRows>;

  beforeAll(async () => {
    home = await mkdtemp(join(tmpdir(), 'mlops-canary-rollback-'));
    const config = loadConfig({
      env: { MLOPS_AGENT_HOME: home, MLOPS_AGENT_LOG_LEVEL: 'silent', MLOPS_AGENT_LLM: 'runbook' },
      cwd: home,
    });
    lab = await openLocalLab({
      config,
      logger: silentLogger,
      steps: [5, 25, 100],
      // This deployer's analysis ignores errors, so the broken canary is held at 5% and
      // only the alert can catch it: the test is of the alert path, not of the analysis.
      analysis: { maxErrorRateDelta: 1, minRequestsPerStep: 50, stepTimeoutMs: 30_000 },
    });
    runtime = await createRuntime({ config, logger: silentLogger, backends: lab });
    trainRows = generateCreditRows({ seed: 11, rows: 5000, startDate: daysAgo(150), days: 90 });
    await writeDataset(lab.dirs.datasets, 'credit-train', trainRows);
    await lab.registry.createModel(MODEL, 'probability of default');
    const job = await lab.trainer.start({
      model: MODEL,
      dataset: 'credit-train',
      params: {},
      requestedBy: 'test:setup',
    });
    v1 = (await lab.trainer.waitFor(job.jobId, { timeoutMs: 120_000 })).version!;
    // v2 passed every offline gate, but its exported artifact lost its weights: every
    // request it serves fails.
    const meta = (await lab.registry.getVersion(MODEL, v1))!;
    const artifact = await lab.registry.loadArtifact(MODEL, v1);
    v2 = (
      await lab.registry.registerVersion({ ...meta, createdBy: 'test:setup', artifact: { ...artifact, weights: [] } })
    ).version;
    await lab.deployer.serve(MODEL, 'production', v1);
    const server = await lab.serve({ host: '127.0.0.1', port: 0 });
    traffic = createTrafficSimulator({ url: server.url, model: MODEL, rows: trainRows, concurrency: 4 });
    traffic.start(1000);
  });

  afterAll(async () => {
    await traffic?.stop();
    await runtime?.close();
    await lab?.close();
    await rm(home, { recursive: true, force: true });
  });

  it('is answered by the canary-rollback runbook, which rolls the canary back while its promotion waits for approval', async () => {
    const call = (callId: string, trafficPercent: number) =>
      runtime.gate.call({
        runId: null,
        callId,
        principal: alice,
        tool: 'deploy_canary',
        args: { model: MODEL, version: v2, environment: 'production', trafficPercent },
      });
    const small = await call('canary-5', 5);
    expect(small).toMatchObject({
      status: 'executed',
      output: { status: 'paused', canaryVersion: v2, canaryPercent: 5 },
    });
    expect(await call('promote', 100)).toMatchObject({ status: 'pending_approval' });

    const sent: AlertmanagerPayload[] = [];
    const monitor = createMonitor({
      stats: lab.stats,
      splits: lab.deployer,
      artifacts: lab.registry,
      referenceRows: async () => trainRows,
      sink: async (p) => void sent.push(p),
      clock: systemClock,
      logger: silentLogger,
      rules: { minRequests: 20 },
    });
    const [payload] = await monitor.evaluate();
    expect(payload!.alerts[0]!.labels).toMatchObject({ alertname: 'CanaryDegraded', version: v2 });

    const run = await runtime.agent.start(alertmanagerTrigger(payload!).trigger);
    expect(run).toMatchObject({ status: 'succeeded', planner: 'runbook:canary-rollback' });
    const results = run.transcript.flatMap((i) => (i.kind === 'result' ? [`${i.name}:${i.outcome.status}`] : []));
    expect(results).toEqual(['rollback:executed']);
    expect(lab.deployer.currentSplit(MODEL, 'production')).toMatchObject({
      stableVersion: v1,
      canaryVersion: null,
      canaryPercent: 0,
    });
    expect(lab.deployer.getRollout(MODEL, 'production')).toMatchObject({
      status: 'rolled_back',
      reason: expect.stringContaining('CanaryDegraded alert'),
    });
    expect((await lab.deployer.history()).at(-1)).toMatchObject({ action: 'rollback', by: 'agent:alertmanager' });

    const entries = await readAuditEntries(runtime.config.auditFile);
    const decision = entries.find((e) => e.kind === 'policy.decision' && e.runId === run.id);
    expect(decision?.data.decision).toMatchObject({ effect: 'allow', ruleId: 'allow-rollback' });
    expect(await verifyAuditFile(runtime.config.auditFile)).toMatchObject({ ok: true });

    // Traffic after the run is served by v1, and the failures v2 caused stop.
    const before = traffic.counts();
    const deadline = Date.now() + 20_000;
    while ((traffic.counts().byVersion[v1] ?? 0) < (before.byVersion[v1] ?? 0) + 200 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 25));
    const after = traffic.counts();
    expect(after.byVersion[v1] ?? 0).toBeGreaterThanOrEqual((before.byVersion[v1] ?? 0) + 200);
    expect(before.failed).toBeGreaterThan(0);
    // Only requests already on their way to v2 when the split moved may still fail.
    expect(after.failed).toBeLessThanOrEqual(before.failed + 4);
  });
});
