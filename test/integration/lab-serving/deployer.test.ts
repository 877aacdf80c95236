import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../../src/clock.js';
import { createTrafficSimulator } from '../../../src/backends/local/traffic-simulator.js';
import { cleanupTraining, createLab, MODEL, shiftedArtifact, type Lab } from './lab-fixture.js';
import { createStack, type Stack } from './serving-stack.js';

afterAll(cleanupTraining);

describe('local deployer', () => {
  let lab: Lab;
  let stack: Stack;
  let v1: string;
  let v2: string;
  beforeEach(async () => {
    lab = await createLab(systemClock);
    v1 = await lab.register(lab.outcome.artifact);
    v2 = await lab.register(lab.outcome.artifact);
    stack = await createStack(lab, systemClock, { analysis: { stepTimeoutMs: 60_000 } });
    await stack.deployer.serve(MODEL, 'production', v1);
  });
  afterEach(async () => {
    await stack.close();
    await lab.cleanup();
  });
  const canary = (version: string, targetPercent: number, timeoutMs = 45_000) =>
    stack.deployer.deployCanary({
      model: MODEL,
      version,
      environment: 'production',
      targetPercent,
      requestedBy: 'test',
      timeoutMs,
    });

  it('stops a waiting step at once when rolled back mid-rollout', async () => {
    // No traffic: the first step waits for requests until the rollback lands.
    const pending = canary(v2, 100);
    while (stack.deployer.currentSplit(MODEL, 'production')!.canaryPercent === 0)
      await new Promise((r) => setTimeout(r, 10));
    expect(stack.deployer.currentSplit(MODEL, 'production')).toMatchObject({ canaryVersion: v2, canaryPercent: 10 });
    const split = await stack.deployer.rollback({
      model: MODEL,
      environment: 'production',
      reason: 'pager',
      requestedBy: 'oncall',
    });
    expect(split).toMatchObject({ stableVersion: v1, canaryVersion: null, canaryPercent: 0 });
    const rollout = await pending;
    expect(rollout).toMatchObject({ status: 'rolled_back', reason: 'pager', canaryPercent: 0 });
    expect(stack.deployer.currentSplit(MODEL, 'production')).toMatchObject({ canaryPercent: 0, canaryVersion: null });
  });

  it('keeps the split and the paused rollout across a restart, then continues from where it paused', async () => {
    const sim = createTrafficSimulator({
      url: stack.server.url,
      model: MODEL,
      rows: lab.servingRows,
      feedbackDelayMs: 0,
    });
    sim.start(2500);
    try {
      expect(await canary(v2, 10)).toMatchObject({ status: 'paused', canaryPercent: 10 });
      await stack.close();
      stack = await createStack(lab, systemClock);
      expect(stack.deployer.currentSplit(MODEL, 'production')).toMatchObject({
        stableVersion: v1,
        canaryVersion: v2,
        canaryPercent: 10,
        lastKnownGoodVersion: v1,
      });
      expect(stack.deployer.getRollout(MODEL, 'production')).toMatchObject({
        status: 'paused',
        canaryPercent: 10,
        targetPercent: 10,
      });
    } finally {
      await sim.stop();
    }
    const sim2 = createTrafficSimulator({
      url: stack.server.url,
      model: MODEL,
      rows: lab.servingRows,
      feedbackDelayMs: 0,
    });
    sim2.start(2500);
    try {
      const rollout = await canary(v2, 100);
      expect(rollout.status).toBe('promoted');
      expect(rollout.analyses.map((a) => a.trafficPercent)).toEqual([10, 50]);
    } finally {
      await sim2.stop();
    }
    expect((await lab.registry.resolveAlias(MODEL, 'champion'))?.version).toBe(v2);
    const actions = (await stack.deployer.history()).map((h) => h.action);
    expect(actions).toEqual(['serve', 'canary_step', 'analysis', 'pause', 'canary_step', 'analysis', 'promote']);
  });

  it('pauses rather than judges a step that got too little traffic before its timeout', async () => {
    await stack.close();
    stack = await createStack(lab, systemClock, { analysis: { stepTimeoutMs: 100 } });
    const rollout = await canary(v2, 50);
    expect(rollout.status).toBe('paused');
    expect(rollout.reason).toMatch(/too little traffic/);
    expect(rollout.analyses.at(-1)!.checks.find((c) => c.check === 'canary_requests')).toMatchObject({
      passed: false,
      canary: 0,
    });
    expect(stack.deployer.currentSplit(MODEL, 'production')).toMatchObject({ canaryVersion: v2, canaryPercent: 10 });
  });

  it('rolls back a canary whose labelled outcomes are worse, naming the accuracy check', async () => {
    // Scores move too, but with the score-shift bound out of the way the failing evidence
    // must be accuracy: ~23 points worse, clear on the 300 labels of the first step (a
    // bias of +1.5, ~8 points worse, is not distinguishable there from the -0.05 bound).
    const worse = await lab.register(shiftedArtifact(lab.outcome.artifact, 2.5));
    await stack.close();
    stack = await createStack(lab, systemClock, { analysis: { maxScoreShiftPsi: 10 } });
    const sim = createTrafficSimulator({
      url: stack.server.url,
      model: MODEL,
      rows: lab.servingRows,
      feedbackDelayMs: 0,
    });
    sim.start(2500);
    try {
      const rollout = await canary(worse, 100);
      expect(rollout.status).toBe('rolled_back');
      const failed = rollout.analyses
        .at(-1)!
        .checks.filter((c) => !c.passed)
        .map((c) => c.check);
      expect(failed).toEqual(['accuracy']);
      expect(rollout.reason).toContain('accuracy');
    } finally {
      await sim.stop();
    }
    const last = (await stack.deployer.history()).at(-1)!;
    expect(last).toMatchObject({
      action: 'rollback',
      by: 'canary-analysis',
      split: { stableVersion: v1, canaryVersion: null },
    });
  });

  it('does not undo a rollback that lands while a continuing deployCanary reads the registry', async () => {
    const sim = createTrafficSimulator({
      url: stack.server.url,
      model: MODEL,
      rows: lab.servingRows,
      feedbackDelayMs: 0,
    });
    sim.start(2500);
    try {
      expect(await canary(v2, 50)).toMatchObject({ status: 'paused', canaryPercent: 50 });
      // A human authorises 100% just as the pager (or the watch) rolls the canary back.
      const continuing = canary(v2, 100);
      await stack.deployer.rollback({
        model: MODEL,
        environment: 'production',
        reason: 'pager',
        requestedBy: 'oncall',
      });
      // The rolled-back share is not picked up again: the version starts over and earns every step.
      expect((await continuing).status).toBe('promoted');
    } finally {
      await sim.stop();
    }
    const actions = (await stack.deployer.history()).map((h) => h.action);
    expect(actions.slice(actions.indexOf('rollback'))).toEqual([
      'rollback',
      'canary_step',
      'analysis',
      'canary_step',
      'analysis',
      'promote',
    ]);
  });

  it('refuses a second canary version while one is mid-rollout', async () => {
    const v3 = await lab.register(lab.outcome.artifact);
    await stack.close();
    stack = await createStack(lab, systemClock, { analysis: { stepTimeoutMs: 50 } });
    await canary(v2, 50);
    await expect(canary(v3, 50)).rejects.toThrow(/mid-rollout/);
    await expect(canary(v2, 5)).rejects.toThrow(/needs a rollback/);
  });
});
