import { request } from 'node:http';
import { afterAll, afterEach, beforeEach, describe, expect, it, onTestFinished } from 'vitest';
import { silentLogger } from '../../../src/logger.js';
import { createModelServer } from '../../../src/backends/local/model-server.js';
import { createServingStats } from '../../../src/backends/local/serving-stats.js';
import { createTrafficRouter } from '../../../src/backends/local/traffic-router.js';
import { systemClock } from '../../../src/clock.js';
import { createTrafficSimulator } from '../../../src/backends/local/traffic-simulator.js';
import { cleanupTraining, createLab, MODEL, type Lab } from './lab-fixture.js';
import { createStack, type Stack } from './serving-stack.js';

afterAll(cleanupTraining);

function post(
  url: string,
  body: string | Buffer,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Record<string, unknown>; json: any }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        resolve({ status: res.statusCode!, headers: res.headers, json: text ? JSON.parse(text) : null });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('model server', () => {
  let lab: Lab;
  let stack: Stack;
  let stable: string;
  let canary: string;
  beforeEach(async () => {
    lab = await createLab(systemClock);
    stable = await lab.register(lab.outcome.artifact);
    canary = await lab.register({ ...lab.outcome.artifact, bias: lab.outcome.artifact.bias + 0.1 });
    stack = await createStack(lab, systemClock);
    await stack.deployer.serve(MODEL, 'production', stable);
  });
  afterEach(async () => {
    await stack.close();
    await lab.cleanup();
  });
  const row = () => {
    const { default: _label, ...features } = lab.servingRows[0]!;
    return features;
  };

  it('scores a batch with the serving version and labels each prediction and the response with it', async () => {
    const res = await post(`${stack.server.url}/predict`, JSON.stringify({ model: MODEL, rows: [row(), row()] }));
    expect(res.status).toBe(200);
    expect(res.headers['x-model-version']).toBe(stable);
    expect(res.json.predictions).toHaveLength(2);
    for (const p of res.json.predictions) {
      expect(p.version).toBe(stable);
      expect(p.score).toBeGreaterThan(0);
      expect(p.score).toBeLessThan(1);
      expect(typeof p.id).toBe('string');
    }
    expect(res.json.predictions[0].id).not.toBe(res.json.predictions[1].id);
  });

  it('routes about a fifth of 2000 requests to a canary holding 20%', async () => {
    // A router over a fixed 80/20 split, behind its own server on the same registry.
    const split = {
      model: MODEL,
      environment: 'production' as const,
      stableVersion: stable,
      canaryVersion: canary,
      canaryPercent: 20,
      lastKnownGoodVersion: stable,
    };
    const stats = createServingStats({ clock: systemClock });
    const router = createTrafficRouter({ splits: { currentSplit: (m) => (m === MODEL ? split : undefined) } });
    const server = await createModelServer({ artifacts: lab.registry, router, stats, logger: silentLogger });
    onTestFinished(() => server.close());
    const sim = createTrafficSimulator({ url: server.url, model: MODEL, rows: lab.servingRows, concurrency: 16 });
    const counts = await sim.send(2000);
    await sim.stop();
    expect(counts.ok).toBe(2000);
    const share = (counts.byVersion[canary] ?? 0) / 2000;
    expect(share).toBeGreaterThanOrEqual(0.15);
    expect(share).toBeLessThanOrEqual(0.25);
    expect(stats.window(MODEL, 'production', canary).requests).toBe(counts.byVersion[canary]);
  });

  it('records delayed labels against the prediction they belong to', async () => {
    const sim = createTrafficSimulator({
      url: stack.server.url,
      model: MODEL,
      rows: lab.servingRows,
      feedbackDelayMs: 5,
    });
    const counts = await sim.send(50);
    await sim.stop();
    expect(counts.labelled).toBe(50);
    expect(stack.stats.window(MODEL, 'production', stable).labelled).toHaveLength(50);
    const unknown = await post(`${stack.server.url}/feedback`, JSON.stringify({ id: 'no-such-id', label: 1 }));
    expect(unknown.status).toBe(404);
  });

  it('exposes request, error, latency and score metrics per model version', async () => {
    await post(`${stack.server.url}/predict`, JSON.stringify({ model: MODEL, row: row() }));
    const text = await (await fetch(`${stack.server.url}/metrics`)).text();
    const labels = `model="${MODEL}",environment="production",version="${stable}"`;
    expect(text).toContain(`mlops_lab_predict_requests_total{${labels}} 1`);
    expect(text).toContain(`mlops_lab_predict_latency_seconds_count{${labels}} 1`);
    expect(text).toContain(`mlops_lab_prediction_score_count{${labels}} 1`);
    expect(text).toContain('mlops_lab_predict_errors_total');
  });

  it('answers malformed, unknown and oversized requests with a 4xx naming the problem and keeps serving', async () => {
    const url = `${stack.server.url}/predict`;
    const cases: [string, number, RegExp][] = [
      ['{not json', 400, /not valid JSON/],
      ['[]', 400, /JSON object/],
      [JSON.stringify({ rows: [row()] }), 400, /model/],
      [JSON.stringify({ model: MODEL }), 400, /rows/],
      [JSON.stringify({ model: MODEL, rows: [] }), 400, /rows/],
      [JSON.stringify({ model: MODEL, rows: [42] }), 400, /rows\[0\]/],
      [JSON.stringify({ model: MODEL, rows: [{ income: { nested: 1 } }] }), 400, /rows\[0\]\.income/],
      [JSON.stringify({ model: MODEL, environment: 'moon', rows: [row()] }), 400, /environment/],
      [JSON.stringify({ model: 'unknown-model', rows: [row()] }), 404, /not served/],
    ];
    for (const [body, status, message] of cases) {
      const res = await post(url, body);
      expect(res.status, body).toBe(status);
      expect(res.json.error).toMatch(message);
    }
    const big = await post(url, Buffer.alloc(1024 * 1024 + 10, 'a'));
    expect(big.status).toBe(413);
    const feedback = await post(`${stack.server.url}/feedback`, JSON.stringify({ id: 'x', label: 2 }));
    expect(feedback.status).toBe(400);
    expect(feedback.json.error).toMatch(/label/);
    const ok = await post(url, JSON.stringify({ model: MODEL, row: row() }));
    expect(ok.status).toBe(200);
  });
});
