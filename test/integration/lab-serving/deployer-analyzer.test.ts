// The lab's deployer with a CanaryAnalyzer in place of its own analysis, driven by a
// scripted analyzer (the port's double; the Prometheus adapter itself runs in
// test/integration/prometheus/lab-deployer.test.ts): how each verdict moves a step and a
// held canary, and that a verdict arriving after the canary moved is dropped.
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../../src/clock.js';
import type { AnalysisOutcome, AnalysisTarget, CanaryAnalyzer } from '../../../src/backends/canary-analyzer.js';
import { manualTimers } from '../../support/manual-timers.js';
import { eventually } from '../../support/eventually.js';
import { cleanupTraining, createLab, MODEL, type Lab } from './lab-fixture.js';
import { createStack, type Stack } from './serving-stack.js';

afterAll(cleanupTraining);

type Verdict = AnalysisOutcome['verdict'];

/** Answers each analysis with the next scripted verdict; one scripted as `hold` waits until released (or aborted). */
function scriptedAnalyzer() {
  const script: (Verdict | 'hold')[] = [];
  const asked: { target: AnalysisTarget; signal?: AbortSignal }[] = [];
  let release: (v: Verdict) => void = () => undefined;
  const analyzer: CanaryAnalyzer = {
    async analyse(target, options = {}) {
      asked.push({ target, signal: options.signal });
      const next = script.shift() ?? 'passed';
      const verdict =
        next === 'hold'
          ? await new Promise<Verdict>((resolve) => {
              release = resolve;
              options.signal?.addEventListener('abort', () => resolve('inconclusive'), { once: true });
            })
          : next;
      return {
        at: new Date().toISOString(),
        trafficPercent: target.trafficPercent,
        passed: verdict === 'passed',
        verdict,
        checks: [{ check: 'error-rate', canary: 0, stable: 0, threshold: 0, passed: verdict === 'passed' }],
      };
    },
  };
  return { analyzer, script, asked, release: (v: Verdict) => release(v) };
}

describe("the lab's deployer judged by a CanaryAnalyzer", () => {
  let lab: Lab;
  let stack: Stack;
  let v1: string;
  let v2: string;
  beforeEach(async () => {
    lab = await createLab(systemClock);
    v1 = await lab.register(lab.outcome.artifact);
    v2 = await lab.register(lab.outcome.artifact);
  });
  afterEach(async () => {
    await stack?.close();
    await lab.cleanup();
  });

  const canary = (targetPercent: number) =>
    stack.deployer.deployCanary({
      model: MODEL,
      version: v2,
      environment: 'production',
      targetPercent,
      requestedBy: 'user:alice',
      timeoutMs: 10_000,
    });

  async function open(script: ReturnType<typeof scriptedAnalyzer>, timers = manualTimers()) {
    // No traffic wait: each step asks the analyzer at once.
    stack = await createStack(lab, systemClock, {
      analysis: { minRequestsPerStep: 0 },
      analyzer: script.analyzer,
      timers,
    });
    await stack.deployer.serve(MODEL, 'production', v1);
    return timers;
  }

  it('asks the analyzer at every step about the canary against the stable version, and promotes when each passes', async () => {
    const s = scriptedAnalyzer();
    await open(s);
    const rollout = await canary(100);
    expect(rollout).toMatchObject({ status: 'promoted' });
    expect(s.asked.map((a) => a.target)).toEqual([
      { model: MODEL, environment: 'production', canaryVersion: v2, stableVersion: v1, trafficPercent: 10 },
      { model: MODEL, environment: 'production', canaryVersion: v2, stableVersion: v1, trafficPercent: 50 },
    ]);
  });

  it('pauses on an inconclusive step and rolls back on a failed one', async () => {
    const s = scriptedAnalyzer();
    await open(s);
    s.script.push('passed', 'inconclusive');
    const paused = await canary(100);
    expect(paused).toMatchObject({
      status: 'paused',
      canaryPercent: 50,
      reason: 'canary analysis inconclusive at 50% (no data for error-rate); call deployCanary again to continue',
    });
    // Called again, the step is judged again; now it fails.
    s.script.push('failed');
    const rolledBack = await canary(100);
    expect(rolledBack).toMatchObject({ status: 'rolled_back', reason: 'canary analysis failed at 50%: error-rate' });
    expect(stack.deployer.currentSplit(MODEL, 'production')).toMatchObject({ stableVersion: v1, canaryVersion: null });
  });

  it('counts no failure for a held canary the analyzer cannot judge, and rolls it back after two failures', async () => {
    const s = scriptedAnalyzer();
    const timers = await open(s);
    expect((await canary(10)).status).toBe('paused');
    s.script.push('failed', 'inconclusive', 'inconclusive', 'failed');
    const watchRecords = async () => (await stack.deployer.history()).filter((h) => h.by === 'canary-watch');
    // failed: one of two; inconclusive twice: nothing recorded, nothing counted; failed: two in a row.
    for (const recorded of [1, 1, 1]) {
      const asked = s.asked.length;
      expect(timers.fireAll()).toBe(1);
      await eventually('the watch to analyse and schedule again', () =>
        s.asked.length > asked && timers.pending() === 1 ? true : undefined,
      );
      expect(await watchRecords()).toHaveLength(recorded);
    }
    expect(stack.deployer.currentSplit(MODEL, 'production')).toMatchObject({ canaryVersion: v2, canaryPercent: 10 });
    timers.fireAll();
    await eventually('the rollback', () =>
      stack.deployer.currentSplit(MODEL, 'production')!.canaryVersion === null ? true : undefined,
    );
    const rollout = stack.deployer.getRollout(MODEL, 'production')!;
    expect(rollout).toMatchObject({ status: 'rolled_back' });
    expect(rollout.reason).toBe('canary analysis failed at 10% while held: error-rate (2 of 2 in a row)');
  });

  it('drops a held canary’s verdict that arrives after a rollback, aborting the measurement', async () => {
    const s = scriptedAnalyzer();
    const timers = await open(s);
    expect((await canary(10)).status).toBe('paused');
    s.script.push('hold');
    const asked = s.asked.length;
    timers.fireAll();
    await eventually('the watch to ask', () => (s.asked.length > asked ? true : undefined));
    await stack.deployer.rollback({ model: MODEL, environment: 'production', reason: 'pager', requestedBy: 'oncall' });
    expect(s.asked.at(-1)!.signal!.aborted).toBe(true);
    s.release('failed');
    await new Promise((r) => setTimeout(r, 50));
    const history = await stack.deployer.history();
    expect(history.at(-1)).toMatchObject({ action: 'rollback', by: 'oncall' });
    expect(history.filter((h) => h.by === 'canary-watch')).toEqual([]);
    expect(timers.pending()).toBe(0);
    expect(stack.deployer.watching()).toEqual([]);
  });
});
