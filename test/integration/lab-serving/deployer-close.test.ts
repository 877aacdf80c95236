// Closing the lab's deployer stops a canary stepping without anyone awaiting it (a run
// parks while its canary steps): the process can end, and the next start finds the
// rollout where it stood and pauses it as interrupted.
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
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
    const started = await stack.deployer.startCanary({ model: MODEL, version: v2, environment: 'production', targetPercent: 50, requestedBy: 'test', timeoutMs: 45_000 });
    expect(started).toMatchObject({ status: 'progressing', canaryVersion: v2 });
    await stack.close();
    expect(stack.deployer.getRollout(MODEL, 'production')).toMatchObject({ status: 'progressing', canaryPercent: 10 });

    stack = await createStack(lab, systemClock);
    expect(stack.deployer.getRollout(MODEL, 'production')).toMatchObject({ status: 'paused', canaryPercent: 10, reason: expect.stringMatching(/interrupted by a restart/) });
    expect(await stack.deployer.rollout(MODEL, 'production')).toMatchObject({ status: 'paused' });
    expect(stack.deployer.currentSplit(MODEL, 'production')).toMatchObject({ stableVersion: v1, canaryVersion: v2, canaryPercent: 10 });
  });
});
