// `mlops-agent lab up`: the lab running as a small world of its own. One model server per
// model on fixed ports, a traffic generator per model sending live requests and their true
// outcomes a little later, and a control server with the lab's gauges (/metrics), what
// serves at what share (/status), incidents on demand (/inject) and the lab's deployer for
// `serve` and workers (/deployer/*, see lab-deployer-link.ts). It writes <home>/lab/up.json
// (its pid, URLs and a bearer token for the routes that act) and removes it when it stops.
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { writeFileAtomic } from '../../durable-file.js';
import { describeError, UserError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import { ownerGone, PROCESS_TOKEN } from '../../process-identity.js';
import { columnSpecs } from './contract-columns.js';
import { readDataset, writeDataset } from './dataset-store.js';
import type { LocalLab } from './index.js';
import { handleDeployerCall, readBody } from './lab-deployer-link.js';
import { createLabMetrics, type WatchedModel } from './lab-metrics.js';
import { LAB_ENVIRONMENT, LAB_MODELS, labQuotes } from './lab-seed.js';
import { creditTraffic, signalTraffic, type TrafficMode } from './lab-traffic.js';
import { generateCreditRows } from './credit-generator.js';
import { generateQuotes } from './quotes-generator.js';
import type { Fault, ModelServer } from './model-server.js';
import { SIGNAL_FEATURES, SIGNAL_LABEL, signalRows } from './signal-model.js';
import { createTrafficSimulator, type TrafficSimulator } from './traffic-simulator.js';

export interface LabUpOptions {
  host: string;
  ports: { control: number; credit: number; trading: number };
  /** Requests a second each model's traffic generator sends. */
  ratePerSecond: number;
  /** How long after its prediction each request's true outcome is sent to /feedback. */
  labelDelayMs: number;
  /** The window the gauges are computed over. */
  windowMs: number;
  /** The registry the lab serves versions from, recorded for serve and workers (default the lab's own). */
  registry?: LabRegistry;
}

/** Which registry a lab's trainer and deployer use: the lab's own, or an MLflow tracking server. */
export type LabRegistry = { kind: 'local' } | { kind: 'mlflow'; trackingUri: string };

export function describeLabRegistry(r: LabRegistry): string {
  return r.kind === 'mlflow' ? `MLflow at ${r.trackingUri}` : "the lab's own registry";
}

/** Whether two processes choosing these registries register and read the same versions. */
export function sameLabRegistry(a: LabRegistry, b: LabRegistry): boolean {
  if (a.kind === 'local' || b.kind === 'local') return a.kind === b.kind;
  return a.trackingUri.replace(/\/+$/, '') === b.trackingUri.replace(/\/+$/, '');
}

export const LAB_UP_DEFAULTS: LabUpOptions = {
  host: '127.0.0.1',
  ports: { control: 9400, credit: 9401, trading: 9402 },
  ratePerSecond: 100,
  labelDelayMs: 5_000,
  windowMs: 60_000,
};

/** What `lab up` writes for `serve`, `lab status` and `lab inject` to find it. */
export interface LabUpRecord {
  pid: number;
  token: string;
  processToken: string;
  control: string;
  servers: Record<string, string>;
  startedAt: string;
  /** Where the versions it serves are registered; absent in a record of an older `lab up` (the lab's own). */
  registry?: LabRegistry;
}

export const INCIDENTS = ['drift', 'bad-data', 'errors', 'latency', 'clear'] as const;
export type Incident = (typeof INCIDENTS)[number];

export interface InjectRequest {
  incident: Incident;
  model?: string;
  /** errors, latency: the version to hurt (default: the canary if one serves, else the stable version). */
  version?: string;
  /** errors: share of requests that fail (default 0.3). */
  errorRate?: number;
  /** latency: added to each request (default 300 ms). */
  latencyMs?: number;
}

export const upRecordFile = (home: string) => join(home, 'lab', 'up.json');

/** The running `lab up` of this home, or null when none runs (a record left by a dead one is ignored). */
export async function findLabUp(home: string): Promise<LabUpRecord | null> {
  let record: LabUpRecord;
  try {
    record = JSON.parse(await readFile(upRecordFile(home), 'utf8')) as LabUpRecord;
  } catch {
    return null;
  }
  return ownerGone({ pid: record.pid, token: record.processToken }) ? null : record;
}

export interface LabUp {
  record: LabUpRecord;
  close(): Promise<void>;
}

async function referenceSample(
  lab: LocalLab,
  dataset: string,
  rows: number,
  transform: (r: Awaited<ReturnType<typeof readDataset>>['rows']) => Awaited<ReturnType<typeof readDataset>>['rows'],
) {
  const contract = lab.contracts.forDataset(dataset);
  const data = await readDataset(lab.dirs.datasets, dataset, contract ? columnSpecs(contract) : undefined);
  return transform(data.rows).slice(0, rows);
}

export async function startLabUp(lab: LocalLab, options: LabUpOptions, logger: Logger): Promise<LabUp> {
  const { credit, trading } = LAB_MODELS;
  for (const m of [credit, trading]) {
    if (!lab.deployer.currentSplit(m.model, LAB_ENVIRONMENT))
      throw new UserError(`${m.model} is not served in ${LAB_ENVIRONMENT}: run \`mlops-agent lab init\` first`);
  }
  const modes: Record<string, TrafficMode> = { [credit.model]: 'normal', [trading.model]: 'normal' };
  const faults = new Map<string, Fault>();
  const faultKey = (model: string, version: string) => `${model}\u0000${version}`;
  const servers: Record<string, ModelServer> = {};
  const simulators: TrafficSimulator[] = [];
  let control: ReturnType<typeof createServer> | undefined;
  const token = randomBytes(24).toString('hex');

  const creditContract = lab.contracts.forDataset(credit.reference)!;
  const watched: WatchedModel[] = [
    {
      model: credit.model,
      environment: LAB_ENVIRONMENT,
      dataset: credit.recent,
      reference: await referenceSample(lab, credit.reference, 3000, (rows) => rows),
      features: creditContract.columns
        .filter((c) => c.drift)
        .map((c) => ({ name: c.name, categorical: c.type === 'category' })),
      offlineAccuracy: 'accuracy',
      signal: false,
    },
    {
      model: trading.model,
      environment: LAB_ENVIRONMENT,
      dataset: trading.recent,
      reference: await referenceSample(lab, trading.reference, 3000, (rows) => signalRows(rows)),
      // Not the spread: in bps it moves in whole ticks, and PSI over such point masses jumps
      // whenever the price level shifts a tick's worth of bps across a bin edge.
      features: SIGNAL_FEATURES.filter((f) => f.name !== 'spread_bps').map((f) => ({
        name: f.name,
        categorical: false,
      })),
      offlineAccuracy: 'hit_rate',
      signal: true,
    },
  ];
  const metrics = createLabMetrics({
    models: watched,
    stats: lab.stats,
    splits: lab.deployer,
    artifacts: lab.models,
    windowMs: options.windowMs,
    diskPath: lab.dirs.root,
  });

  async function status() {
    return {
      models: await Promise.all(
        watched.map(async (m) => {
          const split = lab.deployer.currentSplit(m.model, m.environment)!;
          const rollout = lab.deployer.getRollout(m.model, m.environment);
          const versions = [
            split.stableVersion,
            ...(split.canaryVersion && split.canaryPercent > 0 ? [split.canaryVersion] : []),
          ];
          return {
            model: m.model,
            environment: m.environment,
            url: servers[m.model]?.url ?? null,
            traffic: modes[m.model],
            serving: versions.map((version) => ({
              version,
              role: version === split.stableVersion ? 'stable' : 'canary',
              percent:
                version === split.stableVersion
                  ? 100 - (version === split.canaryVersion ? 0 : split.canaryPercent)
                  : split.canaryPercent,
              fault: faults.get(faultKey(m.model, version)) ?? null,
            })),
            lastKnownGood: split.lastKnownGoodVersion,
            rollout: rollout
              ? {
                  canaryVersion: rollout.canaryVersion,
                  canaryPercent: rollout.canaryPercent,
                  targetPercent: rollout.targetPercent,
                  status: rollout.status,
                  reason: rollout.reason,
                }
              : null,
            // Versions scoring copies of stable's requests; they answer nobody.
            shadows: (await lab.deployer.shadows(m.model, m.environment))
              .filter((s) => s.status === 'running')
              .map((s) => ({
                version: s.version,
                mirrorPercent: s.mirrorPercent,
                verdict: s.analysis?.verdict ?? null,
                mirroredRequests: s.analysis?.mirroredRequests ?? 0,
                fault: faults.get(faultKey(m.model, s.version)) ?? null,
              })),
          };
        }),
      ),
    };
  }

  async function inject(request: InjectRequest): Promise<string> {
    if (request.incident === 'clear') {
      faults.clear();
      for (const key of Object.keys(modes)) modes[key] = 'normal';
      return 'cleared every injected incident: traffic is normal and no version fails or is slowed';
    }
    const model = request.model ?? credit.model;
    if (!(model in modes))
      throw new UserError(`the lab has no model "${model}" (it has ${Object.keys(modes).join(', ')})`);
    const split = lab.deployer.currentSplit(model, LAB_ENVIRONMENT)!;
    if (request.incident === 'drift' || request.incident === 'bad-data') {
      modes[model] = request.incident;
      const dataset = model === credit.model ? credit.recent : trading.recent;
      // The recent dataset the runbooks check and train on is the traffic just seen.
      const rows =
        model === credit.model
          ? generateCreditRows({
              seed: 77,
              rows: 3000,
              startDate: new Date(Date.now() - 28 * 86_400_000).toISOString().slice(0, 10),
              days: 28,
              ...(request.incident === 'drift'
                ? { drift: { incomeShift: 0.65, utilizationShift: 0.25, conceptShift: 0.6 } }
                : { incomeUnit: 'kusd' as const }),
            })
          : request.incident === 'drift'
            ? labQuotes(78, 60)
            : generateQuotes({
                seed: 79,
                start: new Date(Math.floor(Date.now() / 60_000) * 60_000 - 3_600_000).toISOString(),
                minutes: 60,
                faults: { crossed: { fromMinute: 0, minutes: 60, perMinute: 6 } },
              });
      const version = await writeDataset(
        lab.dirs.datasets,
        dataset,
        rows,
        model === credit.model ? undefined : Object.keys(rows[0]!),
      );
      return `${model}: traffic is now ${request.incident === 'drift' ? 'drifted (valid data, moved distribution)' : 'broken (it breaks its data contract)'}; ${dataset} rewritten to match (data version ${version.slice(0, 12)})`;
    }
    const version =
      request.version ?? (split.canaryVersion && split.canaryPercent > 0 ? split.canaryVersion : split.stableVersion);
    // A shadow may be hurt too: its errors and latency show in its analysis, never in an answer.
    const shadowing = lab.deployer.currentShadows(model, LAB_ENVIRONMENT).some((s) => s.version === version);
    if (version !== split.stableVersion && version !== split.canaryVersion && !shadowing)
      throw new UserError(
        `${model} v${version} serves no traffic now and shadows none (v${split.stableVersion} is stable${split.canaryVersion ? `, v${split.canaryVersion} the canary` : ''})`,
      );
    const existing = faults.get(faultKey(model, version)) ?? { errorRate: 0, addedLatencyMs: 0 };
    if (request.incident === 'errors') {
      const rate = request.errorRate ?? 0.3;
      if (!(rate > 0 && rate <= 1)) throw new UserError(`the error rate is a share in (0, 1], got ${rate}`);
      faults.set(faultKey(model, version), { ...existing, errorRate: rate });
      return `${model} v${version}: ${Math.round(rate * 100)}% of its requests now fail`;
    }
    const ms = request.latencyMs ?? 300;
    if (!(ms > 0 && ms <= 10_000)) throw new UserError(`the added latency is in ms, 1 to 10000, got ${ms}`);
    faults.set(faultKey(model, version), { ...existing, addedLatencyMs: ms });
    return `${model} v${version}: every request now takes ${ms} ms longer`;
  }

  const authorised = (req: IncomingMessage) => req.headers.authorization === `Bearer ${token}`;
  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0]!;
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.method === 'GET' && path === '/metrics') {
      const text = await metrics.metrics();
      res.writeHead(200, { 'content-type': metrics.contentType });
      res.end(text);
      return;
    }
    if (req.method === 'GET' && path === '/status') return send(200, await status());
    if (req.method === 'GET' && path === '/healthz') return send(200, { ok: true });
    if (req.method !== 'POST') return send(404, { error: `no route ${req.method} ${path}` });
    if (!authorised(req))
      return send(401, {
        error: `POST ${path} needs Authorization: Bearer <token> (the token is in ${upRecordFile('<home>')})`,
      });
    const body = (await readBody(req)) as Record<string, unknown>;
    if (path.startsWith('/deployer/'))
      return handleDeployerCall(lab.deployer, path.slice('/deployer/'.length), body.args, res);
    if (path === '/inject') {
      if (!(INCIDENTS as readonly string[]).includes(String(body.incident)))
        return send(400, { error: `incident must be one of ${INCIDENTS.join(', ')}` });
      return send(200, { message: await inject(body as unknown as InjectRequest) });
    }
    send(404, { error: `no route POST ${path}` });
  }

  const record: LabUpRecord = {
    pid: process.pid,
    token,
    processToken: PROCESS_TOKEN,
    control: '',
    servers: {},
    startedAt: new Date().toISOString(),
    registry: options.registry ?? { kind: 'local' },
  };
  const close = async () => {
    await rm(join(lab.dirs.root, 'up.json'), { force: true });
    await Promise.all(simulators.map((s) => s.stop()));
    if (control) await new Promise<void>((resolve) => control!.close(() => resolve()));
    control?.closeAllConnections();
  };
  try {
    const faultSource = { faultFor: (model: string, version: string) => faults.get(faultKey(model, version)) };
    servers[credit.model] = await lab.serve({
      host: options.host,
      port: options.ports.credit,
      faults: faultSource,
      metricsRegistry: new Registry(),
    });
    servers[trading.model] = await lab.serve({
      host: options.host,
      port: options.ports.trading,
      faults: faultSource,
      metricsRegistry: new Registry(),
    });
    control = createServer((req, res) => {
      handle(req, res).catch((err: unknown) => {
        const status = err instanceof UserError ? 400 : 500;
        if (status === 500) logger.error({ err: describeError(err) }, 'lab control request failed');
        if (!res.headersSent) res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: describeError(err) }));
      });
    });
    await new Promise<void>((resolve, reject) => {
      control!.once('error', reject);
      control!.listen(options.ports.control, options.host, () => resolve());
    });
    const address = control.address() as AddressInfo;
    record.control = `http://${options.host}:${address.port}`;
    for (const [model, server] of Object.entries(servers)) record.servers[model] = server.url;
    for (const [model, rows, labelColumn] of [
      [credit.model, creditTraffic(() => modes[credit.model]!), 'default'],
      [trading.model, signalTraffic(() => modes[trading.model]!), SIGNAL_LABEL],
    ] as const) {
      const sim = createTrafficSimulator({
        url: servers[model]!.url,
        model,
        environment: LAB_ENVIRONMENT,
        rows,
        labelColumn,
        feedbackDelayMs: options.labelDelayMs,
        concurrency: 4,
      });
      sim.start(options.ratePerSecond);
      simulators.push(sim);
    }
    await writeFileAtomic(join(lab.dirs.root, 'up.json'), JSON.stringify(record, null, 2));
  } catch (err) {
    await close().catch(() => undefined);
    throw err;
  }
  return { record, close };
}
