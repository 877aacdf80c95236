// The KServe deployer through the real @kubernetes/client-node against a local server that
// speaks the Kubernetes API for InferenceServices, with a simulated KServe controller. No
// cluster runs here. The canary analyzer is a scripted double: this file tests the deployer.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { UpstreamError, UserError } from '../../../src/errors.js';
import { silentLogger } from '../../../src/logger.js';
import type { AnalysisOutcome, AnalysisTarget, CanaryAnalyzer } from '../../../src/backends/canary-analyzer.js';
import {
  ANNOTATION,
  createKServeDeployer,
  type KServeDeployer,
  type KServeDeployerSettingsInput,
} from '../../../src/backends/kserve/index.js';
import { freePort } from '../../support/prometheus-server.js';
import { kubeconfigFor, startFakeKServeServer, type FakeKServeServer } from '../../support/fake-kserve-server.js';

const NS = 'ml-prod';
const uri = (v: string) => `s3://models/credit-risk/v${v}`;

/** Answers each analysis with the verdict `judge` gives the target; records what it was asked. */
function scriptedAnalyzer(judge: (t: AnalysisTarget) => AnalysisOutcome['verdict']) {
  const asked: AnalysisTarget[] = [];
  const analyzer: CanaryAnalyzer = {
    async analyse(target) {
      asked.push(target);
      const verdict = judge(target);
      return {
        at: new Date().toISOString(),
        trafficPercent: target.trafficPercent,
        passed: verdict === 'passed',
        verdict,
        checks: [
          {
            check: 'error-rate',
            canary: verdict === 'failed' ? 0.5 : 0,
            stable: 0,
            threshold: 0,
            passed: verdict === 'passed',
          },
        ],
      };
    },
  };
  return { analyzer, asked };
}

const registry = {
  getVersion: async (_model: string, version: string) => ({ promotable: version !== '9' }) as never,
  setAlias: async () => ({}) as never,
};

let server: FakeKServeServer;
let dir: string;
let kubeconfig: string;
let deployers: KServeDeployer[] = [];

beforeEach(async () => {
  server = await startFakeKServeServer();
  server.create(NS, 'credit-risk', uri('1'));
  dir = await mkdtemp(join(tmpdir(), 'kserve-test-'));
  kubeconfig = join(dir, 'kubeconfig');
  await writeFile(kubeconfig, kubeconfigFor(server.url, server.token));
});
afterEach(async () => {
  await Promise.all(deployers.map((d) => d.close()));
  deployers = [];
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

const settings = (overrides: Partial<KServeDeployerSettingsInput> = {}): KServeDeployerSettingsInput => ({
  kubeconfig,
  inferenceServices: [
    {
      model: 'credit-risk',
      environment: 'production',
      namespace: NS,
      storageUri: 's3://models/{{model}}/v{{version}}',
    },
  ],
  steps: [10, 50, 100],
  pollMs: 10,
  watchIntervalMs: 50,
  ...overrides,
});
function deployer(
  judge: (t: AnalysisTarget) => AnalysisOutcome['verdict'] = () => 'passed',
  overrides: Partial<KServeDeployerSettingsInput> = {},
) {
  const scripted = scriptedAnalyzer(judge);
  const d = createKServeDeployer(settings(overrides), { analyzer: scripted.analyzer, registry, logger: silentLogger });
  deployers.push(d);
  return { d, asked: scripted.asked };
}
const request = (version: string, targetPercent: number, idempotencyKey?: string) => ({
  model: 'credit-risk',
  version,
  environment: 'production' as const,
  targetPercent,
  requestedBy: 'test',
  timeoutMs: 20_000,
  ...(idempotencyKey ? { idempotencyKey } : {}),
});
const predictor = () => server.get(NS, 'credit-risk')!;
const traffic = () =>
  (
    predictor().status as { components: { predictor: { traffic: { revisionName: string; percent: number }[] } } }
  ).components.predictor.traffic.map((t) => [t.revisionName, t.percent]);

describe('KServe deployer (Kubernetes API protocol server)', () => {
  it('reads the split from the InferenceService: the stable version from its storageUri, none for a model it does not drive', async () => {
    const { d } = deployer();
    expect(await d.getSplit('credit-risk', 'production')).toEqual({
      model: 'credit-risk',
      environment: 'production',
      stableVersion: '1',
      canaryVersion: null,
      canaryPercent: 0,
      lastKnownGoodVersion: '1',
    });
    expect(await d.getSplit('no-such-model', 'production')).toBeUndefined();
  });

  it('refuses a shadow, saying it needs the lab deployer, and changes nothing on the InferenceService', async () => {
    const { d } = deployer();
    const before = JSON.stringify(predictor());
    const shadow = { model: 'credit-risk', version: '2', environment: 'production' as const, requestedBy: 'test' };
    const start = d.startShadow({ ...shadow, mirrorPercent: 10, idempotencyKey: 'k-shadow' });
    await expect(start).rejects.toBeInstanceOf(UserError);
    await expect(start).rejects.toThrow(/shadow deployments need the lab deployer \(backends\.deployer: local\)/);
    await expect(d.endShadow({ ...shadow, reason: 'test' })).rejects.toThrow(/need the lab deployer/);
    expect(await d.shadows('credit-risk', 'production')).toEqual([]);
    expect(await d.lookup('k-shadow')).toEqual({ state: 'not_started' });
    expect(JSON.stringify(predictor())).toBe(before);
  });

  it('steps a canary through canaryTrafficPercent with an analysis after each step, stops at the authorised share, then promotes it', async () => {
    const { d, asked } = deployer();
    const paused = await d.deployCanary(request('2', 50));
    expect(paused).toMatchObject({ status: 'paused', canaryVersion: '2', canaryPercent: 50, stableVersion: '1' });
    expect(paused.analyses.map((a) => a.trafficPercent)).toEqual([10, 50]);
    expect(asked.map((a) => [a.canaryVersion, a.stableVersion, a.trafficPercent])).toEqual([
      ['2', '1', 10],
      ['2', '1', 50],
    ]);
    expect(predictor().spec.predictor).toMatchObject({ canaryTrafficPercent: 50, model: { storageUri: uri('2') } });
    expect(traffic()).toEqual([
      ['credit-risk-predictor-00002', 50],
      ['credit-risk-predictor-00001', 50],
    ]);
    expect(await d.getSplit('credit-risk', 'production')).toMatchObject({
      stableVersion: '1',
      canaryVersion: '2',
      canaryPercent: 50,
    });
    // One merge patch made the new revision; the steps only moved the percent.
    expect(server.patches.every((p) => p.contentType === 'application/merge-patch+json')).toBe(true);

    const promoted = await d.deployCanary(request('2', 100));
    expect(promoted.status).toBe('promoted');
    expect(predictor().spec.predictor.canaryTrafficPercent).toBeUndefined();
    expect(traffic()).toEqual([['credit-risk-predictor-00002', 100]]);
    expect(predictor().status).toMatchObject({
      components: {
        predictor: {
          latestRolledoutRevision: 'credit-risk-predictor-00002',
          previousRolledoutRevision: 'credit-risk-predictor-00001',
        },
      },
    });
    expect(await d.getSplit('credit-risk', 'production')).toEqual({
      model: 'credit-risk',
      environment: 'production',
      stableVersion: '2',
      canaryVersion: null,
      canaryPercent: 0,
      lastKnownGoodVersion: '2',
    });
  });

  it('rolls a canary that fails its analysis back by pinning all traffic to the last rolled-out revision', async () => {
    const { d } = deployer((t) => (t.trafficPercent >= 50 ? 'failed' : 'passed'));
    const rollout = await d.deployCanary(request('2', 100));
    expect(rollout).toMatchObject({
      status: 'rolled_back',
      canaryPercent: 0,
      reason: 'canary analysis failed at 50%: error-rate',
    });
    expect(rollout.analyses.at(-1)!.passed).toBe(false);
    expect(predictor().spec.predictor.canaryTrafficPercent).toBe(0);
    // As KServe reports a pinned rollback: the new revision kept at 0%, the previous one at 100%.
    expect(traffic()).toEqual([
      ['credit-risk-predictor-00002', 0],
      ['credit-risk-predictor-00001', 100],
    ]);
    expect(await d.getSplit('credit-risk', 'production')).toEqual({
      model: 'credit-risk',
      environment: 'production',
      stableVersion: '1',
      canaryVersion: null,
      canaryPercent: 0,
      lastKnownGoodVersion: '1',
    });
  });

  it('promotes, with steps [100], a canary judged with all traffic instead of holding it at 100%', async () => {
    const { d, asked } = deployer(() => 'passed', { steps: [100] });
    const rollout = await d.deployCanary(request('2', 100));
    expect(rollout).toMatchObject({ status: 'promoted', canaryPercent: 100 });
    expect(asked.map((a) => a.trafficPercent)).toEqual([100]);
    expect(await d.getSplit('credit-risk', 'production')).toMatchObject({ stableVersion: '2', canaryVersion: null });
  });

  it('holds a canary whose analysis had no data instead of passing it', async () => {
    const { d } = deployer(() => 'inconclusive');
    const rollout = await d.deployCanary(request('2', 100));
    expect(rollout).toMatchObject({ status: 'paused', canaryPercent: 10 });
    expect(rollout.reason).toMatch(/inconclusive at 10% \(no data for error-rate\)/);
    expect(await d.getSplit('credit-risk', 'production')).toMatchObject({ canaryVersion: '2', canaryPercent: 10 });
  });

  it('keeps watching a held canary and rolls it back on its own once it fails twice in a row', async () => {
    let healthy = true;
    const { d } = deployer(() => (healthy ? 'passed' : 'failed'));
    expect((await d.deployCanary(request('2', 10))).status).toBe('paused');
    healthy = false;
    const until = Date.now() + 10_000;
    while ((await d.getSplit('credit-risk', 'production'))?.canaryVersion !== null && Date.now() < until)
      await new Promise((r) => setTimeout(r, 20));
    expect(await d.getSplit('credit-risk', 'production')).toMatchObject({
      stableVersion: '1',
      canaryVersion: null,
      canaryPercent: 0,
    });
    expect(await d.rollout('credit-risk', 'production')).toMatchObject({
      status: 'rolled_back',
      reason: expect.stringMatching(/held canary failed 2 analyses in a row at 10%/),
    });
  });

  it('watches again, after a restart, a canary left holding traffic (paused or progressing) and rolls it back once it fails', async () => {
    for (const status of ['paused', 'progressing'] as const) {
      const first = deployer(() => 'passed');
      expect((await first.d.deployCanary(request('2', 10))).status).toBe('paused');
      await first.d.close();
      if (status === 'progressing') {
        // As a process killed between a step's patch and its analysis leaves it.
        const annotations = predictor().metadata.annotations!;
        annotations[ANNOTATION.rollout] = JSON.stringify({
          ...JSON.parse(annotations[ANNOTATION.rollout]!),
          status: 'progressing',
          reason: null,
        });
      }
      const restarted = deployer(() => 'failed');
      await restarted.d.resumed;
      await vi.waitFor(
        async () =>
          expect(await restarted.d.getSplit('credit-risk', 'production')).toMatchObject({
            stableVersion: '1',
            canaryVersion: null,
          }),
        { timeout: 10_000, interval: 20 },
      );
      expect(await restarted.d.rollout('credit-risk', 'production')).toMatchObject({
        status: 'rolled_back',
        reason: expect.stringMatching(/held canary failed 2 analyses in a row at 10%/),
      });
      expect(restarted.asked.length).toBeGreaterThanOrEqual(2);
      await restarted.d.close();
    }
  });

  it('moves, at open, the alias of a promotion whose registry was down when it was promoted', async () => {
    const moves: string[] = [];
    const withRegistry = (setAlias: (model: string, alias: string, version: string | null) => Promise<never>) => {
      const scripted = scriptedAnalyzer(() => 'passed');
      const d = createKServeDeployer(settings(), {
        analyzer: scripted.analyzer,
        registry: { getVersion: registry.getVersion, setAlias },
        logger: silentLogger,
      });
      deployers.push(d);
      return d;
    };
    const first = withRegistry(() => Promise.reject(new UpstreamError('MLflow', 'down', { retryable: true })));
    expect((await first.deployCanary(request('2', 100))).reason).toMatch(/champion alias was not moved to 2/);
    await first.close();
    const restarted = withRegistry(async (model, alias, version) => {
      moves.push(`${model} ${alias} ${version}`);
      return {} as never;
    });
    await restarted.resumed;
    expect(moves).toEqual(['credit-risk champion 2']);
    expect(await restarted.rollout('credit-risk', 'production')).toMatchObject({
      status: 'promoted',
      reason: 'canary 2 passed every step and was promoted',
    });
  });

  it('writes the idempotency key with every patch, starts once under it, and answers lookup from the cluster in another process', async () => {
    const { d } = deployer();
    expect(await d.lookup('run_5:call_4')).toEqual({ state: 'not_started' });
    const [a, b] = await Promise.all([
      d.startCanary(request('2', 50, 'run_5:call_4')),
      d.startCanary(request('2', 50, 'run_5:call_4')),
    ]);
    expect(a).toEqual(b);
    expect(a).toMatchObject({ status: 'progressing', canaryVersion: '2' });
    const ended = await d.waitForRollout('credit-risk', 'production', { timeoutMs: 20_000 });
    expect(ended).toMatchObject({ status: 'paused', canaryPercent: 50 });
    const keyed = server.patches.map(
      (p) => (p.body.metadata as { annotations: Record<string, string | null> }).annotations[ANNOTATION.idempotencyKey],
    );
    expect(keyed.length).toBeGreaterThan(2);
    expect(keyed.every((k) => k === 'run_5:call_4')).toBe(true);
    expect(
      server.patches.filter((p) => (p.body.spec as { predictor?: { model?: unknown } } | undefined)?.predictor?.model)
        .length,
    ).toBe(1);

    // A second deployer (another worker, after a crash) reads the same answer from the InferenceService.
    const other = deployer().d;
    expect(await other.lookup('run_5:call_4')).toEqual({
      state: 'ended',
      work: {
        kind: 'canary',
        model: 'credit-risk',
        environment: 'production',
        version: '2',
        targetPercent: 50,
        at: expect.any(String),
        rollout: ended,
      },
    });
    expect(await other.startCanary(request('2', 50, 'run_5:call_4'))).toEqual(ended);
    await expect(other.startCanary(request('2', 100, 'run_5:call_4'))).rejects.toBeInstanceOf(UserError);
  });

  it('starts and steps once when two processes start under one key at the same moment', async () => {
    // No held-canary watch here: each analysis asked is a step's.
    const a = deployer(() => 'passed', { watchIntervalMs: 600_000 });
    const b = deployer(() => 'passed', { watchIntervalMs: 600_000 });
    // Usually both read before either writes: the later patch conflicts (409), and its retry
    // finds the key taken, so it follows that rollout instead of driving it a second time.
    const [first, second] = await Promise.all([
      a.d.deployCanary(request('2', 10, 'run_7:call_1')),
      b.d.deployCanary(request('2', 10, 'run_7:call_1')),
    ]);
    expect(first).toMatchObject({ status: 'paused', canaryVersion: '2', canaryPercent: 10 });
    expect(second).toEqual(first);
    expect(a.asked.length + b.asked.length).toBe(1);
    expect(traffic()).toEqual([
      ['credit-risk-predictor-00002', 10],
      ['credit-risk-predictor-00001', 90],
    ]);
  });

  it('rolls back once under a key, answering a repeat with the split it left', async () => {
    const { d } = deployer();
    await d.deployCanary(request('2', 50));
    const rollback = {
      model: 'credit-risk',
      environment: 'production' as const,
      reason: 'alert',
      requestedBy: 'test',
      idempotencyKey: 'run_6:call_1',
    };
    const split = await d.rollback(rollback);
    expect(split).toEqual({
      model: 'credit-risk',
      environment: 'production',
      stableVersion: '1',
      canaryVersion: null,
      canaryPercent: 0,
      lastKnownGoodVersion: '1',
    });
    expect(await d.lookup('run_6:call_1')).toMatchObject({ state: 'ended', work: { kind: 'rollback', split } });
    await d.deployCanary(request('3', 10));
    expect(await d.rollback(rollback)).toEqual(split);
    expect(await d.getSplit('credit-risk', 'production')).toMatchObject({ canaryVersion: '3', canaryPercent: 10 });
    expect(traffic()).toEqual([
      ['credit-risk-predictor-00003', 10],
      ['credit-risk-predictor-00001', 90],
    ]);
  });

  it('builds its patch again from a fresh read when the controller wrote status in between (409), and never overwrites what changed', async () => {
    const { d } = deployer();
    // The controller writes status after each of the next three reads, as KServe's does while it reconciles.
    let churn = 3;
    server.afterRead = (ns, name) => {
      if (churn-- > 0) server.writeStatus(ns, name);
    };
    expect((await d.deployCanary(request('2', 10))).status).toBe('paused');
    churn = 3;
    await d.rollback({ model: 'credit-risk', environment: 'production', reason: 'alert', requestedBy: 'test' });
    expect(await d.getSplit('credit-risk', 'production')).toMatchObject({ canaryVersion: null, canaryPercent: 0 });
    expect(server.patches.length).toBeGreaterThan(0);

    // An operator puts their own canary in (and the controller routes it) between the agent's
    // last read and its write: the write fails with 409, and the agent decides again and refuses.
    let reads = 0;
    server.afterRead = (ns, name) => {
      if (++reads !== 2) return; // 1: the request's first look; 2: the read its patch is built on
      server.edit(ns, name, {
        metadata: { annotations: { [ANNOTATION.canaryVersion]: '7' } },
        spec: { predictor: { canaryTrafficPercent: 5, model: { storageUri: uri('7') } } },
      });
      server.writeStatus(ns, name);
    };
    const patchesBefore = server.patches.length;
    await expect(d.deployCanary(request('3', 10))).rejects.toThrow(
      /canary v7 of credit-risk holds 5%.*roll it back first/,
    );
    const tried = server.patches.slice(patchesBefore);
    expect(tried.map((p) => JSON.stringify(p.body)).join()).toContain(uri('3'));
    expect(predictor().spec.predictor).toMatchObject({ canaryTrafficPercent: 5, model: { storageUri: uri('7') } });
    expect(traffic()).toEqual([
      ['credit-risk-predictor-00003', 5],
      ['credit-risk-predictor-00001', 95],
    ]);
  });

  it('gives up, naming the conflict, when the object changes under every one of its tries', async () => {
    const { d } = deployer();
    server.afterRead = (ns, name) => server.writeStatus(ns, name);
    await expect(d.deployCanary(request('2', 10))).rejects.toThrow(/changed while it was patched \(409 Conflict\)/);
    server.afterRead = undefined;
    expect(await d.getSplit('credit-risk', 'production')).toMatchObject({ stableVersion: '1', canaryVersion: null });
  });

  it('refuses bad requests before patching anything', async () => {
    const { d } = deployer();
    await expect(d.deployCanary(request('9', 50))).rejects.toThrow(/failed its quality gates/);
    await expect(d.deployCanary(request('2', 0))).rejects.toThrow(/targetPercent must be an integer in 1..100/);
    await expect(d.deployCanary({ ...request('2', 50), environment: 'staging' })).rejects.toThrow(
      /not among kserve.inferenceServices/,
    );
    expect(server.patches).toEqual([]);
  });

  it('says what to fix on 401, 403, an unknown InferenceService, an unreachable API server and bad settings', async () => {
    await writeFile(join(dir, 'wrong'), kubeconfigFor(server.url, 'expired-token'));
    await expect(
      deployer(undefined, { kubeconfig: join(dir, 'wrong') }).d.getSplit('credit-risk', 'production'),
    ).rejects.toThrow(/refused the credentials \(401[^)]*\); renew the kubeconfig's token/);
    server.forbidden.add(NS);
    await expect(deployer().d.getSplit('credit-risk', 'production')).rejects.toThrow(
      /forbids get on InferenceService ml-prod\/credit-risk \(403: .*cannot get resource "inferenceservices".*\); grant the agent's account get and patch/,
    );
    server.forbidden.clear();
    const missing = deployer(undefined, {
      inferenceServices: [
        { model: 'fraud', environment: 'production', namespace: NS, storageUri: 's3://m/{{version}}' },
      ],
    }).d;
    await expect(missing.deployCanary({ ...request('2', 10), model: 'fraud' })).rejects.toThrow(
      /InferenceService ml-prod\/fraud not found at http:\/\/127\.0\.0\.1:\d+; create it/,
    );
    await writeFile(join(dir, 'gone'), kubeconfigFor(`http://127.0.0.1:${await freePort()}`, server.token));
    const err = await deployer(undefined, { kubeconfig: join(dir, 'gone') })
      .d.getSplit('credit-risk', 'production')
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UpstreamError);
    expect((err as Error).message).toMatch(
      /cannot reach the Kubernetes API at http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\)/,
    );
    expect(() => deployer(undefined, { kubeconfig: join(dir, 'absent') })).toThrow(
      /cannot load the kubeconfig .*absent/,
    );
    expect(() =>
      deployer(undefined, {
        inferenceServices: [{ model: 'm', environment: 'production', namespace: 'Bad_NS', storageUri: 's3://m' }],
      }),
    ).toThrow(
      /kserve.inferenceServices.0.namespace: a Kubernetes namespace name \(lower case, digits, -\); kserve.inferenceServices.0.storageUri: storageUri must contain \{\{version\}\}/,
    );
  });
});
