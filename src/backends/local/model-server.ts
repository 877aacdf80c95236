// The lab's model server: POST /predict scores rows with the version the router picks,
// POST /feedback takes delayed true labels, GET /metrics exposes Prometheus metrics.
// Every request lands in the serving stats the canary analysis and the monitor read. A
// request the stable version answered may also be mirrored to shadow versions, after the
// answer is sent: their scores are recorded for the shadow analysis and go to nobody.
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { Registry } from 'prom-client';
import { describeError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import type { Environment } from '../../../tools/ports.js';
import type { CreditRow } from './credit-schema.js';
import { score, type ModelArtifact } from './model-artifact.js';
import { parseFeedbackBody, parsePredictBody, RequestError } from './predict-request.js';
import type { ServingStats } from './serving-stats.js';
import { createServingMetrics } from './serving-metrics.js';
import type { TrafficRouter } from './traffic-router.js';

/** What the server needs from the registry: the stored artifact of a version. */
export interface ArtifactSource {
  loadArtifact(model: string, version: string): Promise<ModelArtifact>;
}

export const MAX_BODY_BYTES = 1024 * 1024;

/** An incident `lab inject` causes on purpose: a share of a version's requests fail, or all are slowed. */
export interface Fault {
  errorRate: number;
  addedLatencyMs: number;
}

/** Read on every request: the fault on this model version now, if any. */
export interface ServingFaults {
  faultFor(model: string, version: string): Fault | undefined;
}

export interface ModelServer {
  url: string;
  close(): Promise<void>;
}

export async function createModelServer(options: {
  host?: string;
  port?: number;
  artifacts: ArtifactSource;
  router: TrafficRouter;
  stats: ServingStats;
  logger: Logger;
  metricsRegistry?: Registry;
  faults?: ServingFaults;
}): Promise<ModelServer> {
  const { artifacts, router, stats, logger } = options;
  const registry = options.metricsRegistry ?? new Registry();
  const metrics = createServingMetrics(registry);
  // Artifacts of a version never change, so each is loaded once; a failed load is retried.
  const loaded = new Map<string, Promise<ModelArtifact>>();
  const artifactFor = (model: string, version: string): Promise<ModelArtifact> => {
    const key = `${model}\u0000${version}`;
    let p = loaded.get(key);
    if (!p) {
      p = artifacts.loadArtifact(model, version);
      p.catch(() => loaded.delete(key));
      loaded.set(key, p);
    }
    return p;
  };

  async function predict(body: unknown, res: ServerResponse): Promise<void> {
    const request = parsePredictBody(body);
    let started = performance.now();
    const route = router.route(request.model, request.environment);
    if (!route) throw new RequestError(404, `model "${request.model}" is not served in ${request.environment}`);
    const labels = { model: request.model, environment: request.environment, version: route.version };
    const predictions: { id: string; score: number; row: CreditRow }[] = [];
    try {
      const artifact = await artifactFor(request.model, route.version);
      // A version's first requests wait once for its artifact to load. That is no property of
      // the version: counted, it made a fresh canary's p99 look like a regression next to the
      // warm stable version whenever the disk was slow.
      started = performance.now();
      const fault = options.faults?.faultFor(request.model, route.version);
      if (fault && fault.addedLatencyMs > 0) await new Promise((r) => setTimeout(r, fault.addedLatencyMs));
      if (fault && Math.random() < fault.errorRate)
        throw new Error(`a fault injected by \`mlops-agent lab inject\` failed this request`);
      for (const row of request.rows) {
        const s = score(artifact, row);
        if (!Number.isFinite(s)) throw new Error(`version ${route.version} produced a non-finite score`);
        predictions.push({ id: randomUUID(), score: s, row });
      }
    } catch (err) {
      const latencyMs = performance.now() - started;
      stats.recordRequest({ ...labels, ok: false, latencyMs, predictions: [] });
      metrics.observeRequest(labels, latencyMs, false, []);
      logger.warn({ ...labels, err: describeError(err) }, 'prediction failed');
      send(res, 500, { error: `prediction failed: ${describeError(err)}` }, route.version);
      return;
    }
    const latencyMs = performance.now() - started;
    stats.recordRequest({ ...labels, ok: true, latencyMs, predictions });
    metrics.observeRequest(
      labels,
      latencyMs,
      true,
      predictions.map((p) => p.score),
    );
    send(
      res,
      200,
      { predictions: predictions.map((p) => ({ id: p.id, score: p.score, version: route.version })) },
      route.version,
    );
    // After the answer, never before it: a shadow can neither change nor delay what the caller gets.
    if (route.mirrors.length > 0)
      setImmediate(() => {
        for (const version of route.mirrors)
          mirror(request.model, request.environment, version, route.version, predictions).catch((err: unknown) =>
            logger.warn({ model: request.model, version, err: describeError(err) }, 'shadow scoring failed'),
          );
      });
  }

  /** Scores the rows the stable version answered with the shadow `version` and records both scores side by side. */
  async function mirror(
    model: string,
    environment: Environment,
    version: string,
    stableVersion: string,
    served: { id: string; score: number; row: CreditRow }[],
  ): Promise<void> {
    const labels = { model, environment, version };
    let started = performance.now();
    const scored: { servedId: string; score: number; stableVersion: string; stableScore: number }[] = [];
    try {
      const artifact = await artifactFor(model, version);
      started = performance.now();
      // An incident injected on the shadow's version hurts the shadow, as it would if it served.
      const fault = options.faults?.faultFor(model, version);
      if (fault && fault.addedLatencyMs > 0) await new Promise((r) => setTimeout(r, fault.addedLatencyMs));
      if (fault && Math.random() < fault.errorRate)
        throw new Error(`a fault injected by \`mlops-agent lab inject\` failed this request`);
      for (const p of served) {
        const s = score(artifact, p.row);
        if (!Number.isFinite(s)) throw new Error(`shadow version ${version} produced a non-finite score`);
        scored.push({ servedId: p.id, score: s, stableVersion, stableScore: p.score });
      }
    } catch (err) {
      stats.recordShadow({ ...labels, ok: false, latencyMs: performance.now() - started, predictions: [] });
      logger.debug({ ...labels, err: describeError(err) }, 'shadow prediction failed');
      return;
    }
    stats.recordShadow({ ...labels, ok: true, latencyMs: performance.now() - started, predictions: scored });
  }

  function feedback(body: unknown, res: ServerResponse): void {
    const items = parseFeedbackBody(body);
    const counts = { recorded: 0, unknown: 0, duplicate: 0 };
    for (const item of items.labels) counts[stats.recordFeedback(item.id, item.label)]++;
    metrics.feedback.inc(counts.recorded);
    if (items.single && counts.unknown === 1) {
      throw new RequestError(404, `prediction "${items.labels[0]!.id}" is unknown or too old to take feedback`);
    }
    send(res, 200, counts);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method === 'GET' && path === '/metrics') {
      res.writeHead(200, { 'content-type': registry.contentType });
      res.end(await registry.metrics());
      return;
    }
    if (req.method === 'GET' && path === '/healthz') return send(res, 200, { ok: true });
    if (path !== '/predict' && path !== '/feedback') throw new RequestError(404, `no route ${req.method} ${path}`);
    if (req.method !== 'POST') throw new RequestError(405, `${path} takes POST`);
    const body = await readJson(req);
    if (path === '/predict') await predict(body, res);
    else feedback(body, res);
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (err instanceof RequestError) {
        metrics.rejected.inc({ status: String(err.status) });
        // After a 413 the rest of the body is not read, so the connection cannot be reused.
        if (err.status === 413) res.setHeader('connection', 'close');
        send(res, err.status, { error: err.message });
        return;
      }
      logger.error({ err: describeError(err) }, 'model server request failed');
      send(res, 500, { error: 'internal error' });
    });
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${host}:${address.port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}

function send(res: ServerResponse, status: number, body: unknown, version?: string): void {
  if (res.headersSent) return;
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (version !== undefined) headers['x-model-version'] = version;
  res.writeHead(status, headers);
  res.end(JSON.stringify(body));
}

/** Reads at most MAX_BODY_BYTES and parses JSON; too large is 413, not JSON is 400. */
async function readJson(req: IncomingMessage): Promise<unknown> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > MAX_BODY_BYTES) {
    throw new RequestError(413, `body is ${declared} bytes; the limit is ${MAX_BODY_BYTES}`);
  }
  // Listeners rather than `for await`: leaving an async iterator destroys the socket,
  // and the client would get a reset instead of the 413.
  const chunks = await new Promise<Buffer[]>((resolve, reject) => {
    const received: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        req.off('data', onData);
        req.pause();
        reject(new RequestError(413, `body exceeds the limit of ${MAX_BODY_BYTES} bytes`));
        return;
      }
      received.push(chunk);
    };
    req.on('data', onData);
    req.once('end', () => resolve(received));
    req.once('error', reject);
  });
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') throw new RequestError(400, 'body is empty: send a JSON object');
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new RequestError(400, `body is not valid JSON: ${describeError(err)}`);
  }
}
