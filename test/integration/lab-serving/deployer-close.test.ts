// Closing the lab's deployer stops a canary stepping without anyone awaiting it (a run
// parks while its canary steps): the process can end, and the next start finds the
// rollout where it stood and pauses it as interrupted. A rollout whose process died (its
// owner's pid is gone) was acknowledged to its caller: the next start continues it.
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createDeploymentStore } from '../../../src/backends/local/deployment-store.js';
import { systemClock } from '../../../src/clock.js';
import { cleanupTraining, createLab, MODEL, type Lab } from './lab-fixture.js';
import { createStack, type Stack } from './serving-stack.js';

afterAll(cleanupTraining);

describe('closing the local deployer', () => {
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

  it('stops a canary started without waiting, which the next start pauses as interrupted', async () => {
    // No traffic: the first step waits for requests (up to a minute) until the close.
    const started = await stack.deployer.startCanary({
      model: MODEL,
      version: v2,
      environment: 'production',
      targetPercent: 50,
      requestedBy: 'test',
      timeoutMs: 45_000,
    });
    expect(started).toMatchObject({ status: 'progressing', canaryVersion: v2 });
    await stack.close();
    expect(stack.deployer.getRollout(MODEL, 'production')).toMatchObject({ status: 'progressing', canaryPercent: 10 });

    stack = await createStack(lab, systemClock);
    expect(stack.deployer.getRollout(MODEL, 'production')).toMatchObject({
      status: 'paused',
      canaryPercent: 10,
      reason: expect.stringMatching(/interrupted by a restart/),
    });
    expect(await stack.deployer.rollout(MODEL, 'production')).toMatchObject({ status: 'paused' });
    expect(stack.deployer.currentSplit(MODEL, 'production')).toMatchObject({
      stableVersion: v1,
      canaryVersion: v2,
      canaryPercent: 10,
    });
  });

  it('continues where it stood, until its deadline, a canary whose process died while it stepped', async () => {
    await stack.deployer.startCanary({
      model: MODEL,
      version: v2,
      environment: 'production',
      targetPercent: 50,
      requestedBy: 'test',
      timeoutMs: 45_000,
      idempotencyKey: 'run_1:call_4',
    });
    const crashed = await mkdtemp(join(tmpdir(), 'lab-crashed-'));
    try {
      // The disk as a SIGKILLed process leaves it: stepping at 10%, owned by a pid that is gone.
      // Temp files of an atomic write in flight may vanish between listing and copying: a crash leaves none that matter.
      await cp(join(lab.dir, 'deployments'), crashed, { recursive: true, filter: (src) => !src.endsWith('.tmp') });
      const file = join(crashed, 'deployments.json');
      const state = JSON.parse(await readFile(file, 'utf8'));
      for (const s of Object.values(state.stepping) as { ownerPid: number; ownerToken?: string }[]) {
        s.ownerPid = 99_999_999;
        s.ownerToken = 'a-process-that-died';
      }
      await writeFile(file, JSON.stringify(state));
      await stack.close();

      stack = await createStack(lab, systemClock, { deployDir: crashed, analysis: { stepTimeoutMs: 300 } });
      expect(await stack.deployer.lookup('run_1:call_4')).toMatchObject({
        state: 'started',
        work: { kind: 'canary', version: v2 },
      });
      // Without traffic the continued step is analysed at its timeout and the rollout pauses, as any would.
      const ended = await stack.deployer.waitForRollout(MODEL, 'production', { timeoutMs: 20_000 });
      expect(ended).toMatchObject({
        status: 'paused',
        canaryVersion: v2,
        canaryPercent: 10,
        reason: expect.stringMatching(/too little traffic/),
      });
      expect(await stack.deployer.lookup('run_1:call_4')).toMatchObject({ state: 'ended', work: { rollout: ended } });
      expect(JSON.parse(await readFile(file, 'utf8')).stepping).toMatchObject({
        [`${MODEL}\u0000production`]: { ownerPid: process.pid },
      });
    } finally {
      await stack.close();
      await rm(crashed, { recursive: true, force: true });
    }
  });
});

describe('the deployment store', () => {
  it('appends on load a move whose state was saved and whose history line was lost to a crash', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'lab-store-'));
    try {
      const store = createDeploymentStore(dir);
      const split = {
        model: MODEL,
        environment: 'production' as const,
        stableVersion: '1',
        canaryVersion: '2',
        canaryPercent: 5,
        lastKnownGoodVersion: '1',
      };
      const state = { schemaVersion: 1 as const, entries: {} };
      await store.commit(state, {
        at: '2026-01-01T00:00:00.000Z',
        model: MODEL,
        environment: 'production',
        action: 'serve',
        by: 'op',
        reason: 'serve',
        split,
      });
      // The state of the next move is saved; the process dies before its history line.
      const move = {
        at: '2026-01-01T00:00:01.000Z',
        model: MODEL,
        environment: 'production',
        action: 'canary_step' as const,
        by: 'agent',
        reason: 'canary 2 to 5%',
        split,
      };
      await store.save({ ...state, lastMove: move });
      expect((await createDeploymentStore(dir).readHistory()).map((h) => h.action)).toEqual(['serve']);
      const again = createDeploymentStore(dir);
      await again.load();
      expect((await again.readHistory()).map((h) => h.action)).toEqual(['serve', 'canary_step']);
      // Loading once more appends nothing twice.
      await createDeploymentStore(dir).load();
      expect((await createDeploymentStore(dir).readHistory()).map((h) => h.action)).toEqual(['serve', 'canary_step']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
