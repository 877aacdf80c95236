// The lab deployer keeps analysing a canary held at its authorised share, over real HTTP
// traffic through the model server, and rolls it back on its own when it goes bad.
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../../src/clock.js';
import { WATCH_ANALYSES_KEPT } from '../../../src/backends/local/canary-watch.js';
import type { CreditRow } from '../../../src/backends/local/credit-schema.js';
import type { HistoryRecord } from '../../../src/backends/local/deployment-store.js';
import { openLocalLab } from '../../../src/backends/local/index.js';
import { createTrafficSimulator, type TrafficSimulator } from '../../../src/backends/local/traffic-simulator.js';
import { silentLogger } from '../../../src/logger.js';
import { manualTimers } from '../../support/manual-timers.js';
import { cleanupTraining, createLab, fragileArtifact, MODEL, withoutIncome, type Lab } from './lab-fixture.js';
import { createStack, type Stack, type StackOptions } from './serving-stack.js';
import { eventually } from '../../support/eventually.js';

afterAll(cleanupTraining);

const watchRecords = (history: HistoryRecord[]) =>
  history.filter((h) => h.action === 'analysis' && h.by === 'canary-watch');

describe('the canary watch of the lab deployer', () => {
  let lab: Lab;
  let stack: Stack;
  let v1: string;
  let good: string;
  let fragile: string;
  let sim: TrafficSimulator | undefined;
  /** What upstream sends now; switching it mid-run is the traffic shift. */
  let population: CreditRow[];
  beforeEach(async () => {
    lab = await createLab(systemClock);
    v1 = await lab.register(lab.outcome.artifact);
    good = await lab.register(lab.outcome.artifact);
    fragile = await lab.register(fragileArtifact(lab.outcome.artifact));
    population = lab.servingRows;
  });
  afterEach(async () => {
    await sim?.stop();
    sim = undefined;
    await stack?.close();
    await lab.cleanup();
  });

  const open = async (options: StackOptions = {}) => {
    // TEST_THRESHOLDS as they are (accuracy bound -0.05): the analysis allows for its sample sizes.
    stack = await createStack(lab, systemClock, { watchIntervalMs: 100, ...options });
    return stack;
  };
  const startTraffic = () => {
    let i = 0;
    sim = createTrafficSimulator({
      url: stack.server.url,
      model: MODEL,
      rows: () => population[i++ % population.length]!,
      feedbackDelayMs: 0,
    });
    sim.start(2500);
  };
  const canary = (version: string, targetPercent: number) =>
    stack.deployer.deployCanary({
      model: MODEL,
      version,
      environment: 'production',
      targetPercent,
      requestedBy: 'user:alice',
      timeoutMs: 45_000,
    });

  it('rolls back a canary held at its target once it starts failing, without anyone calling rollback', async () => {
    // One step straight to 50%: windows of canary traffic fill fast.
    await open({ steps: [50, 100] });
    await stack.deployer.serve(MODEL, 'production', v1);
    startTraffic();
    const paused = await canary(fragile, 50);
    expect(paused).toMatchObject({
      status: 'paused',
      canaryPercent: 50,
      reason: expect.stringMatching(/reached the authorised 50%/),
    });
    expect(stack.deployer.watching()).toEqual([{ model: MODEL, environment: 'production' }]);
    // Healthy on complete rows: the watch analyses it and lets it be.
    await eventually('a passing watch analysis', async () =>
      watchRecords(await stack.deployer.history()).length > 0 ? true : undefined,
    );
    expect(stack.deployer.getRollout(MODEL, 'production')).toMatchObject({ status: 'paused', canaryPercent: 50 });

    population = withoutIncome(lab.servingRows);
    const rollout = await eventually('the watch to roll back', () => {
      const r = stack.deployer.getRollout(MODEL, 'production');
      return r?.status === 'rolled_back' ? r : undefined;
    });
    expect(rollout.reason).toMatch(/^canary analysis failed at 50% while held: .*score_psi/);
    const last = rollout.analyses.at(-1)!;
    expect(last).toMatchObject({ passed: false, trafficPercent: 50 });
    expect(last.checks.find((c) => c.check === 'score_psi')).toMatchObject({ passed: false });
    expect(rollout.reason).toMatch(/\(2 of 2 in a row\)$/);
    // The history record is written just after the split moved in memory.
    const history = await eventually('the rollback record', async () => {
      const all = await stack.deployer.history();
      return all.some((h) => h.action === 'rollback') ? all : undefined;
    });
    const at = history.findIndex((h) => h.action === 'rollback');
    expect(history[at]).toMatchObject({
      by: 'canary-analysis',
      reason: rollout.reason,
      split: { stableVersion: v1, canaryVersion: null, canaryPercent: 0 },
    });
    // The first failure was recorded, with the canary still serving, before the second rolled back.
    expect(history[at - 1]).toMatchObject({
      action: 'analysis',
      by: 'canary-watch',
      reason: expect.stringMatching(/^analysis failed while held at 50% \(1 of 2 in a row\)/),
      split: { canaryVersion: fragile, canaryPercent: 50 },
    });
    expect(history[at - 1]!.analysis).toMatchObject({ passed: false });
    expect(stack.deployer.watching()).toEqual([]);

    // No request reaches the fragile version any more (beyond the few already being served).
    const before = sim!.counts().byVersion;
    await eventually('more traffic', () =>
      (sim!.counts().byVersion[v1] ?? 0) > (before[v1] ?? 0) + 500 ? true : undefined,
    );
    const settled = await sim!.stop();
    sim = undefined;
    expect(settled.byVersion[fragile] ?? 0).toBeLessThanOrEqual((before[fragile] ?? 0) + 8);
  });

  it('keeps a healthy held canary, its step analyses and only the newest watch analyses, until it is promoted', async () => {
    await open({ watchIntervalMs: 50 });
    await stack.deployer.serve(MODEL, 'production', v1);
    startTraffic();
    expect(await canary(good, 50)).toMatchObject({ status: 'paused', canaryPercent: 50 });
    const watched = await eventually('several watch analyses', async () => {
      const records = watchRecords(await stack.deployer.history());
      return records.length >= WATCH_ANALYSES_KEPT + 3 ? records : undefined;
    });
    expect(watched.every((r) => (r.analysis as { passed: boolean }).passed)).toBe(true);
    // Without traffic no window fills, so the watch holds still while the state is read.
    await sim!.stop();
    sim = undefined;
    await new Promise((r) => setTimeout(r, 200));
    const rollout = stack.deployer.getRollout(MODEL, 'production')!;
    expect(rollout).toMatchObject({ status: 'paused', canaryPercent: 50 });
    expect(stack.deployer.currentSplit(MODEL, 'production')).toMatchObject({ canaryVersion: good, canaryPercent: 50 });
    // The two step analyses stay; of the watch analyses only the newest few do.
    expect(rollout.analyses).toHaveLength(2 + WATCH_ANALYSES_KEPT);
    expect(rollout.analyses.slice(0, 2).map((a) => a.trafficPercent)).toEqual([10, 50]);
    const recorded = watchRecords(await stack.deployer.history()).map((r) => r.analysis);
    expect(recorded.length).toBeGreaterThan(WATCH_ANALYSES_KEPT);
    expect(rollout.analyses.slice(2)).toEqual(recorded.slice(-WATCH_ANALYSES_KEPT));

    const promoted = await canary(good, 100);
    expect(promoted.status).toBe('promoted');
    expect(stack.deployer.watching()).toEqual([]);
  });

  it('resumes watching after a restart a canary that was mid-step when the process stopped', async () => {
    await open();
    await stack.deployer.serve(MODEL, 'production', v1);
    // No traffic: the first step waits at 10%, holding traffic, when the process "dies".
    const stepping = canary(fragile, 50);
    await eventually('the first step', () =>
      stack.deployer.currentSplit(MODEL, 'production')!.canaryPercent === 10 ? true : undefined,
    );
    const crashed = await mkdtemp(join(tmpdir(), 'lab-crashed-'));
    try {
      // What the disk holds at that moment is what a restarted process finds.
      await cp(join(lab.dir, 'deployments'), crashed, { recursive: true });
      await stack.deployer.rollback({
        model: MODEL,
        environment: 'production',
        reason: 'end the old process',
        requestedBy: 'test',
      });
      await stepping;
      await stack.close();

      await open({ deployDir: crashed });
      expect(stack.deployer.getRollout(MODEL, 'production')).toMatchObject({
        status: 'paused',
        canaryPercent: 10,
        reason: expect.stringMatching(/interrupted by a restart/),
      });
      expect(stack.deployer.watching()).toEqual([{ model: MODEL, environment: 'production' }]);
      population = withoutIncome(lab.servingRows);
      startTraffic();
      const rollout = await eventually('the watch to roll back', () => {
        const r = stack.deployer.getRollout(MODEL, 'production');
        return r?.status === 'rolled_back' ? r : undefined;
      });
      expect(rollout.reason).toMatch(/^canary analysis failed at 10% while held/);
      expect(stack.deployer.currentSplit(MODEL, 'production')).toMatchObject({
        stableVersion: v1,
        canaryVersion: null,
        canaryPercent: 0,
      });
    } finally {
      await stack.close();
      await rm(crashed, { recursive: true, force: true });
    }
  });

  it('lets a rollback that lands during a watch analysis win, and stops the watch', async () => {
    const timers = manualTimers();
    await open({ timers });
    await stack.deployer.serve(MODEL, 'production', v1);
    startTraffic();
    expect((await canary(good, 50)).status).toBe('paused');
    const { analyses } = stack.deployer.getRollout(MODEL, 'production')!;
    const since = Date.parse(analyses.at(-1)!.at);
    await eventually('a window of canary traffic', () =>
      stack.stats.window(MODEL, 'production', good, since).requests >= 400 ? true : undefined,
    );
    await sim!.stop();
    sim = undefined;

    // The watch reads, analyses and starts writing; the pager's rollback arrives before the write ends.
    expect(timers.fireAll()).toBe(1);
    const split = await stack.deployer.rollback({
      model: MODEL,
      environment: 'production',
      reason: 'pager',
      requestedBy: 'oncall',
    });
    expect(split).toMatchObject({ stableVersion: v1, canaryVersion: null, canaryPercent: 0 });

    // Both writes land, in order; the watch does not come back for another look.
    const history = await eventually('both records', async () => {
      const all = await stack.deployer.history();
      return all.at(-1)?.action === 'rollback' && all.at(-2)?.by === 'canary-watch' ? all : undefined;
    });
    expect(history.slice(-2).map((h) => `${h.action} by ${h.by}`)).toEqual([
      'analysis by canary-watch',
      'rollback by oncall',
    ]);
    expect(stack.deployer.getRollout(MODEL, 'production')).toMatchObject({
      status: 'rolled_back',
      reason: 'pager',
      canaryPercent: 0,
    });
    expect(stack.deployer.getRollout(MODEL, 'production')!.analyses).toHaveLength(analyses.length + 1);
    await new Promise((r) => setTimeout(r, 50));
    expect(timers.pending()).toBe(0);
    expect(stack.deployer.watching()).toEqual([]);
    // And the disk agrees: a restarted deployer finds nothing held and watches nothing.
    await stack.close();
    await open({ timers });
    expect(stack.deployer.getRollout(MODEL, 'production')).toMatchObject({ status: 'rolled_back', reason: 'pager' });
    expect(stack.deployer.watching()).toEqual([]);
    expect(timers.pending()).toBe(0);
  });

  it('leaves no watch timer behind when the lab closes', async () => {
    const home = await mkdtemp(join(tmpdir(), 'lab-watch-close-'));
    try {
      // A held canary on disk where openLocalLab keeps its deployments.
      await open({ deployDir: join(home, 'lab', 'deployments'), analysis: { stepTimeoutMs: 100 } });
      await stack.deployer.serve(MODEL, 'production', v1);
      expect(await canary(good, 50)).toMatchObject({
        status: 'paused',
        canaryPercent: 10,
        reason: expect.stringMatching(/too little traffic/),
      });
      expect(stack.deployer.watching()).toHaveLength(1);
      await stack.close();
      expect(stack.deployer.watching()).toEqual([]);

      const timers = manualTimers();
      const local = await openLocalLab({
        config: {
          home,
          qualityGates: { minAuc: 0.6, maxCalibrationError: 0.2, maxP99LatencyMs: 1000, maxParityGap: 0.2 },
        },
        logger: silentLogger,
        watchIntervalMs: 1_000,
        timers,
      });
      expect(local.deployer.watching()).toEqual([{ model: MODEL, environment: 'production' }]);
      expect(timers.pending()).toBe(1);
      await local.close();
      expect(timers.pending()).toBe(0);
      expect(local.deployer.watching()).toEqual([]);
    } finally {
      await rm(home, { recursive: true, force: true });
    }
  });
});
