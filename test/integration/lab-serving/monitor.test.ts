import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../src/logger.js';
import {
  alertmanagerPayloadSchema,
  httpAlertSink,
  type AlertmanagerPayload,
} from '../../../src/backends/local/alertmanager-payload.js';
import { generateCreditRows } from '../../../src/backends/local/credit-generator.js';
import { createMonitor } from '../../../src/backends/local/monitor.js';
import { createTrafficSimulator } from '../../../src/backends/local/traffic-simulator.js';
import { alertmanagerTrigger } from '../../../src/intake/alertmanager-payload.js';
import { manualClock } from '../../support/manual-clock.js';
import { brokenArtifact, cleanupTraining, createLab, MODEL, type Lab } from './lab-fixture.js';
import { createStack, type Stack } from './serving-stack.js';

afterAll(cleanupTraining);

describe('monitor', () => {
  const clock = manualClock();
  let lab: Lab;
  let stack: Stack;
  let v1: string;
  beforeEach(async () => {
    lab = await createLab(clock);
    v1 = await lab.register(lab.outcome.artifact);
    stack = await createStack(lab, clock);
    await stack.deployer.serve(MODEL, 'production', v1);
  });
  afterEach(async () => {
    await stack.close();
    await lab.cleanup();
  });

  const play = async (rows: ReturnType<typeof generateCreditRows>, count: number, feedbackDelayMs?: number) => {
    const sim = createTrafficSimulator({ url: stack.server.url, model: MODEL, rows, concurrency: 8, feedbackDelayMs });
    await sim.send(count);
    await sim.stop();
  };

  it('sends a v4 firing payload for drifted inputs and a resolved one once traffic is clean again', async () => {
    const sent: AlertmanagerPayload[] = [];
    const monitor = createMonitor({
      stats: stack.stats,
      splits: stack.deployer,
      artifacts: lab.registry,
      referenceRows: async () => lab.trainRows,
      sink: async (p) => void sent.push(p),
      clock,
      logger: silentLogger,
      rules: { windowMs: 60_000, minRows: 300 },
      datasetFor: () => 'credit-recent',
      runbooks: { ModelDriftDetected: 'drift-retrain' },
    });
    await play(
      generateCreditRows({ seed: 21, rows: 500, startDate: '2025-05-01', days: 10, drift: { incomeShift: 0.4 } }),
      400,
    );
    const [firing] = await monitor.evaluate();
    expect(firing).toBeDefined();
    expect(alertmanagerPayloadSchema.parse(firing)).toEqual(firing);
    expect(firing).toMatchObject({
      version: '4',
      status: 'firing',
      receiver: 'mlops-agent',
      groupLabels: { model: MODEL, environment: 'production' },
      truncatedAlerts: 0,
    });
    const income = firing!.alerts.find((a) => a.labels.feature === 'income')!;
    expect(income).toMatchObject({
      status: 'firing',
      endsAt: '0001-01-01T00:00:00Z',
      startsAt: new Date(clock.now()).toISOString(),
      labels: {
        alertname: 'ModelDriftDetected',
        model: MODEL,
        environment: 'production',
        severity: 'warning',
        dataset: 'credit-recent',
      },
      annotations: { runbook: 'drift-retrain' },
    });
    expect(income.annotations.description).toMatch(/PSI/);
    expect(income.fingerprint).toMatch(/^[0-9a-f]{16}$/);
    expect(firing!.commonLabels).toMatchObject({ model: MODEL, environment: 'production' });
    // No change, no notification.
    expect(await monitor.evaluate()).toEqual([]);

    clock.advance(120_000);
    await play(lab.servingRows, 400);
    const [resolved] = await monitor.evaluate();
    expect(resolved).toMatchObject({ version: '4', status: 'resolved' });
    const again = resolved!.alerts.find((a) => a.fingerprint === income.fingerprint)!;
    expect(again).toMatchObject({
      status: 'resolved',
      startsAt: income.startsAt,
      endsAt: new Date(clock.now()).toISOString(),
    });
    expect(sent).toHaveLength(2);
  });

  it('raises an accuracy drop from feedback labels when an upstream unit change skews the inputs', async () => {
    const sent: AlertmanagerPayload[] = [];
    const monitor = createMonitor({
      stats: stack.stats,
      splits: stack.deployer,
      artifacts: lab.registry,
      referenceRows: async () => lab.trainRows,
      sink: async (p) => void sent.push(p),
      clock,
      logger: silentLogger,
      rules: { minRows: 300, minLabels: 200 },
    });
    // Income arrives in thousands: the model sees everyone as poor and calls them defaulters.
    await play(
      generateCreditRows({ seed: 22, rows: 500, startDate: '2025-05-01', days: 10, incomeUnit: 'kusd' }),
      400,
      0,
    );
    const [payload] = await monitor.evaluate();
    const drop = payload!.alerts.find((a) => a.labels.alertname === 'ModelAccuracyDrop')!;
    expect(drop).toMatchObject({ status: 'firing', labels: { severity: 'critical', model: MODEL } });
    expect(drop.annotations.description).toMatch(/labelled predictions/);
    expect(
      payload!.alerts.some((a) => a.labels.alertname === 'ModelDriftDetected' && a.labels.feature === 'income'),
    ).toBe(true);
  });

  it('raises CanaryDegraded, first in its group, for a held canary that fails its requests, and resolves it after the rollback', async () => {
    const broken = await lab.register(brokenArtifact(lab.outcome.artifact));
    await stack.close();
    // This deployer's analysis ignores errors, so the canary is held and only the alert can catch it.
    stack = await createStack(lab, clock, { steps: [10], analysis: { maxErrorRateDelta: 1 } });
    const sim = createTrafficSimulator({ url: stack.server.url, model: MODEL, rows: lab.servingRows, concurrency: 8 });
    sim.start(2500);
    try {
      expect(
        await stack.deployer.deployCanary({
          model: MODEL,
          version: broken,
          environment: 'production',
          targetPercent: 10,
          requestedBy: 'test',
          timeoutMs: 45_000,
        }),
      ).toMatchObject({ status: 'paused', canaryPercent: 10 });
    } finally {
      await sim.stop();
    }
    const sent: AlertmanagerPayload[] = [];
    const monitor = createMonitor({
      stats: stack.stats,
      splits: stack.deployer,
      artifacts: lab.registry,
      referenceRows: async () => lab.trainRows,
      sink: async (p) => void sent.push(p),
      clock,
      logger: silentLogger,
      runbooks: { CanaryDegraded: 'canary-rollback' },
    });
    const [firing] = await monitor.evaluate();
    expect(alertmanagerPayloadSchema.parse(firing)).toEqual(firing);
    const degraded = firing!.alerts[0]!;
    expect(degraded).toMatchObject({
      status: 'firing',
      labels: {
        alertname: 'CanaryDegraded',
        model: MODEL,
        environment: 'production',
        version: broken,
        stable_version: v1,
        severity: 'critical',
      },
      annotations: { runbook: 'canary-rollback' },
    });
    expect(degraded.annotations.description).toMatch(/10% of traffic\): error rate 100\.0%/);
    expect(alertmanagerTrigger(firing!).trigger.alertName).toBe('CanaryDegraded');

    await stack.deployer.rollback({ model: MODEL, environment: 'production', reason: 'test', requestedBy: 'test' });
    const [resolved] = await monitor.evaluate();
    expect(resolved!.alerts.find((a) => a.fingerprint === degraded.fingerprint)).toMatchObject({ status: 'resolved' });
  });

  it('posts payloads to a webhook with a bearer token', async () => {
    const received: { auth: string | undefined; body: unknown }[] = [];
    const hook = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        received.push({ auth: req.headers.authorization, body: JSON.parse(Buffer.concat(chunks).toString()) });
        res.writeHead(req.headers.authorization === 'Bearer s3cret' ? 200 : 401).end();
      });
    });
    await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
    try {
      const url = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/webhook`;
      const payload: AlertmanagerPayload = {
        version: '4',
        groupKey: '{}:{model="m"}',
        truncatedAlerts: 0,
        status: 'firing',
        receiver: 'r',
        groupLabels: {},
        commonLabels: {},
        commonAnnotations: {},
        externalURL: 'http://x',
        alerts: [],
      };
      await httpAlertSink(url, 's3cret')(payload);
      expect(received[0]).toEqual({ auth: 'Bearer s3cret', body: payload });
      await expect(httpAlertSink(url, 'wrong')(payload)).rejects.toMatchObject({ retryable: false, message: /401/ });
    } finally {
      await new Promise((r) => hook.close(r));
    }
  });
});
