// The contract every Deployer adapter passes. An adapter's test supplies a harness: a
// deployer serving `stableVersion` with live traffic it can switch on, and versions that
// should pass (`goodVersion`), fail (`badVersion`) and be refused (`unpromotableVersion`)
// a canary analysis, and one (`fragileVersion`) that passes on the usual traffic and goes
// bad once the traffic shifts, to show that a canary held at its authorised share is
// still watched while it waits for a human to authorise more.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { UserError } from '../../src/errors.js';
import type { Deployer, Environment, TrafficSplit } from '../../tools/ports.js';

export interface DeployerHarness {
  deployer: Deployer;
  model: string;
  environment: Environment;
  stableVersion: string;
  goodVersion: string;
  badVersion: string;
  unpromotableVersion: string;
  /** Behaves like the stable version on `startTraffic`'s traffic, and worse on `startShiftedTraffic`'s. */
  fragileVersion: string;
  /** A share the adapter steps to on the way to 100 (one of its steps). */
  partialPercent: number;
  /** Starts realistic traffic (with labels) against the served model; returns its stop. */
  startTraffic(): () => Promise<void>;
  /** Starts traffic from a changed upstream, on which `fragileVersion` goes bad; returns its stop. */
  startShiftedTraffic(): () => Promise<void>;
  /** Long enough for the adapter to analyse a held canary a few times under the harness's traffic. */
  heldAnalysisMs: number;
  cleanup(): Promise<void>;
}

const TIMEOUT_MS = 45_000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls the split until `done` holds or `ms` pass; returns the last split seen. */
async function splitWhen(
  deployer: Deployer,
  model: string,
  environment: Environment,
  done: (s: TrafficSplit) => boolean,
  ms: number,
): Promise<TrafficSplit | undefined> {
  const until = Date.now() + ms;
  for (;;) {
    const split = await deployer.getSplit(model, environment);
    if ((split && done(split)) || Date.now() > until) return split;
    await sleep(50);
  }
}

export function deployerContract(name: string, makeHarness: () => Promise<DeployerHarness>): void {
  describe(`Deployer contract: ${name}`, () => {
    let h: DeployerHarness;
    let stopTraffic: (() => Promise<void>) | undefined;
    beforeEach(async () => {
      h = await makeHarness();
    });
    afterEach(async () => {
      await stopTraffic?.();
      stopTraffic = undefined;
      await h.cleanup();
    });
    const request = (version: string, targetPercent: number) => ({
      model: h.model,
      version,
      environment: h.environment,
      targetPercent,
      requestedBy: 'contract-test',
      timeoutMs: TIMEOUT_MS,
    });

    it('reports no split for a model it does not serve', async () => {
      expect(await h.deployer.getSplit('no-such-model', h.environment)).toBeUndefined();
    });

    it('serves the stable version with all traffic before any canary', async () => {
      const split = await h.deployer.getSplit(h.model, h.environment);
      expect(split).toMatchObject({
        model: h.model,
        stableVersion: h.stableVersion,
        canaryVersion: null,
        canaryPercent: 0,
        lastKnownGoodVersion: h.stableVersion,
      });
    });

    it('refuses to canary a version that failed its quality gates, leaving the split alone', async () => {
      await expect(h.deployer.deployCanary(request(h.unpromotableVersion, h.partialPercent))).rejects.toBeInstanceOf(
        UserError,
      );
      expect(await h.deployer.getSplit(h.model, h.environment)).toMatchObject({
        stableVersion: h.stableVersion,
        canaryVersion: null,
        canaryPercent: 0,
      });
    });

    it('runs a shadow without moving any traffic, once under a key, or refuses it with a UserError', async () => {
      const shadow = {
        model: h.model,
        version: h.goodVersion,
        environment: h.environment,
        mirrorPercent: 10,
        requestedBy: 'contract-test',
        idempotencyKey: 'contract-shadow',
      };
      const untouched = { stableVersion: h.stableVersion, canaryVersion: null, canaryPercent: 0 };
      let started;
      try {
        started = await h.deployer.startShadow(shadow);
      } catch (err) {
        // An adapter that cannot mirror traffic says so, and keeps nothing under the key.
        expect(err).toBeInstanceOf(UserError);
        expect(await h.deployer.lookup('contract-shadow')).toEqual({ state: 'not_started' });
        expect(await h.deployer.getSplit(h.model, h.environment)).toMatchObject(untouched);
        return;
      }
      expect(started).toMatchObject({ version: h.goodVersion, mirrorPercent: 10, status: 'running' });
      expect(await h.deployer.startShadow(shadow)).toMatchObject({ startedAt: started.startedAt });
      expect(await h.deployer.lookup('contract-shadow')).toMatchObject({ state: 'ended', work: { kind: 'shadow' } });
      expect(await h.deployer.getSplit(h.model, h.environment)).toMatchObject(untouched);
      await expect(
        h.deployer.startShadow({ ...shadow, version: h.unpromotableVersion, idempotencyKey: 'x' }),
      ).rejects.toBeInstanceOf(UserError);
      const ended = await h.deployer.endShadow({ ...shadow, reason: 'contract test', idempotencyKey: 'contract-end' });
      expect(ended).toMatchObject({ status: 'ended', reason: 'contract test' });
      expect((await h.deployer.shadows(h.model, h.environment)).filter((s) => s.status === 'running')).toEqual([]);
    });

    it('refuses a target share outside 1..100', async () => {
      await expect(h.deployer.deployCanary(request(h.goodVersion, 0))).rejects.toBeInstanceOf(UserError);
      await expect(h.deployer.deployCanary(request(h.goodVersion, 150))).rejects.toBeInstanceOf(UserError);
    });

    it('steps a good canary up to the authorised share and no further, then promotes it when authorised to 100', async () => {
      stopTraffic = h.startTraffic();
      const paused = await h.deployer.deployCanary(request(h.goodVersion, h.partialPercent));
      expect(paused.status).toBe('paused');
      expect(paused.canaryPercent).toBe(h.partialPercent);
      expect(paused.analyses.length).toBeGreaterThan(0);
      expect(paused.analyses.every((a) => a.passed && a.trafficPercent <= h.partialPercent)).toBe(true);
      expect(await h.deployer.getSplit(h.model, h.environment)).toMatchObject({
        stableVersion: h.stableVersion,
        canaryVersion: h.goodVersion,
        canaryPercent: h.partialPercent,
      });

      const promoted = await h.deployer.deployCanary(request(h.goodVersion, 100));
      expect(promoted.status).toBe('promoted');
      expect(await h.deployer.getSplit(h.model, h.environment)).toMatchObject({
        stableVersion: h.goodVersion,
        canaryVersion: null,
        canaryPercent: 0,
        lastKnownGoodVersion: h.goodVersion,
      });
    });

    it('rolls a bad canary back on its own and records the checks that failed', async () => {
      stopTraffic = h.startTraffic();
      const rollout = await h.deployer.deployCanary(request(h.badVersion, 100));
      expect(rollout.status).toBe('rolled_back');
      expect(rollout.reason).toMatch(/analysis failed/);
      const last = rollout.analyses.at(-1)!;
      expect(last.passed).toBe(false);
      expect(last.checks.filter((c) => !c.passed).length).toBeGreaterThan(0);
      expect(await h.deployer.getSplit(h.model, h.environment)).toMatchObject({
        stableVersion: h.stableVersion,
        canaryVersion: null,
        canaryPercent: 0,
      });
    });

    it('rolls back to the last known-good version on request', async () => {
      stopTraffic = h.startTraffic();
      await h.deployer.deployCanary(request(h.goodVersion, h.partialPercent));
      const split = await h.deployer.rollback({
        model: h.model,
        environment: h.environment,
        reason: 'operator asked',
        requestedBy: 'contract-test',
      });
      expect(split).toMatchObject({ stableVersion: h.stableVersion, canaryVersion: null, canaryPercent: 0 });
      expect(await h.deployer.getSplit(h.model, h.environment)).toEqual(split);
    });

    it('keeps watching a canary held at its authorised share, and rolls it back on its own once it goes bad', async () => {
      stopTraffic = h.startTraffic();
      expect((await h.deployer.deployCanary(request(h.fragileVersion, h.partialPercent))).status).toBe('paused');
      await sleep(h.heldAnalysisMs);
      const held = { stableVersion: h.stableVersion, canaryVersion: h.fragileVersion, canaryPercent: h.partialPercent };
      expect(await h.deployer.getSplit(h.model, h.environment)).toMatchObject(held);

      await stopTraffic();
      stopTraffic = h.startShiftedTraffic();
      // Nobody calls rollback: the deployer must notice on its own.
      const split = await splitWhen(
        h.deployer,
        h.model,
        h.environment,
        (s) => s.canaryVersion === null,
        20 * h.heldAnalysisMs,
      );
      expect(split).toMatchObject({
        stableVersion: h.stableVersion,
        canaryVersion: null,
        canaryPercent: 0,
        lastKnownGoodVersion: h.stableVersion,
      });
    });

    it('keeps a healthy held canary serving through the same traffic shift', async () => {
      stopTraffic = h.startTraffic();
      expect((await h.deployer.deployCanary(request(h.goodVersion, h.partialPercent))).status).toBe('paused');
      await stopTraffic();
      stopTraffic = h.startShiftedTraffic();
      // The shift alone is no reason to roll back: the stable version sees it too.
      await sleep(2 * h.heldAnalysisMs);
      expect(await h.deployer.getSplit(h.model, h.environment)).toMatchObject({
        stableVersion: h.stableVersion,
        canaryVersion: h.goodVersion,
        canaryPercent: h.partialPercent,
      });
    });

    it("keeps a canary's key with its rollout: a second start under the key starts nothing, and lookup follows it to its end", async () => {
      stopTraffic = h.startTraffic();
      const keyed = { ...request(h.goodVersion, h.partialPercent), idempotencyKey: 'run_5:call_4' };
      expect(await h.deployer.lookup('run_5:call_4')).toEqual({ state: 'not_started' });
      const [a, b] = await Promise.all([h.deployer.startCanary(keyed), h.deployer.startCanary(keyed)]);
      expect([a.canaryVersion, b.canaryVersion]).toEqual([h.goodVersion, h.goodVersion]);
      const found = await h.deployer.lookup('run_5:call_4');
      expect(found).toMatchObject({
        work: { kind: 'canary', model: h.model, version: h.goodVersion, targetPercent: h.partialPercent },
      });
      expect(found.state === 'started' || found.state === 'ended').toBe(true);
      const ended = await h.deployer.waitForRollout(h.model, h.environment, { timeoutMs: TIMEOUT_MS });
      expect(await h.deployer.lookup('run_5:call_4')).toMatchObject({ state: 'ended', work: { rollout: ended } });
      // Started again under its key after it ended: the same rollout, not a second canary.
      expect(await h.deployer.startCanary(keyed)).toEqual(ended);
      await expect(h.deployer.startCanary({ ...keyed, targetPercent: 100 })).rejects.toBeInstanceOf(UserError);
    });

    it('rolls back once under a key, answering a repeat with the split that rollback left', async () => {
      stopTraffic = h.startTraffic();
      await h.deployer.deployCanary(request(h.goodVersion, h.partialPercent));
      const rollback = {
        model: h.model,
        environment: h.environment,
        reason: 'alert',
        requestedBy: 'contract-test',
        idempotencyKey: 'run_6:call_1',
      };
      const split = await h.deployer.rollback(rollback);
      expect(await h.deployer.lookup('run_6:call_1')).toMatchObject({
        state: 'ended',
        work: { kind: 'rollback', split },
      });
      // A canary started since is not rolled back by the repeat.
      await h.deployer.deployCanary(request(h.goodVersion, h.partialPercent));
      expect(await h.deployer.rollback(rollback)).toEqual(split);
      expect(await h.deployer.getSplit(h.model, h.environment)).toMatchObject({
        canaryVersion: h.goodVersion,
        canaryPercent: h.partialPercent,
      });
    });

    it('starts a canary without waiting, refusing a bad request at once, and tells when it stops at the authorised share', async () => {
      stopTraffic = h.startTraffic();
      await expect(h.deployer.startCanary(request(h.unpromotableVersion, h.partialPercent))).rejects.toBeInstanceOf(
        UserError,
      );
      const started = await h.deployer.startCanary(request(h.goodVersion, h.partialPercent));
      expect(started).toMatchObject({
        canaryVersion: h.goodVersion,
        targetPercent: h.partialPercent,
        status: 'progressing',
      });
      expect(await h.deployer.rollout(h.model, h.environment)).toMatchObject({ canaryVersion: h.goodVersion });
      const ended = await h.deployer.waitForRollout(h.model, h.environment, { timeoutMs: TIMEOUT_MS });
      expect(ended).toMatchObject({ status: 'paused', canaryVersion: h.goodVersion, canaryPercent: h.partialPercent });
      expect(await h.deployer.rollout(h.model, h.environment)).toEqual(ended);
      expect(await h.deployer.getSplit(h.model, h.environment)).toMatchObject({
        canaryVersion: h.goodVersion,
        canaryPercent: h.partialPercent,
      });
    });
  });
}
