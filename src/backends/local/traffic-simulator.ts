// Plays applicants against the model server over real HTTP: one row per request, at a
// rate or a fixed count, and optionally reports each row's true `default` back to
// /feedback after a delay, as a loan book would once outcomes are known.
import { Agent, request as httpRequest } from 'node:http';
import { describeError } from '../../errors.js';
import type { Environment } from '../../../tools/ports.js';
import { LABEL_COLUMN, type CreditRow } from './credit-schema.js';

export interface TrafficSimulatorOptions {
  url: string;
  model: string;
  environment?: Environment;
  /** Rows to send, cycled in order; or a function drawing the next row. */
  rows: CreditRow[] | (() => CreditRow);
  /** Send the row's true label to /feedback this long after its prediction (absent: no feedback). */
  feedbackDelayMs?: number;
  /** Requests in flight at once (default 8). */
  concurrency?: number;
  /** The row's column holding its true 0/1 outcome, never sent to the model (default `default`). */
  labelColumn?: string;
}

export interface SimulatorCounts {
  sent: number;
  ok: number;
  failed: number;
  labelled: number;
  /** Requests answered per version, from the `x-model-version` header. */
  byVersion: Record<string, number>;
  lastError: string | null;
}

export interface TrafficSimulator {
  /** Sends exactly `count` requests as fast as `concurrency` allows, then waits for their feedback. */
  send(count: number): Promise<SimulatorCounts>;
  /** Sends `ratePerSecond` requests per second until `stop`. */
  start(ratePerSecond: number): void;
  /** Stops sending and waits for requests and pending feedback to finish. */
  stop(): Promise<SimulatorCounts>;
  counts(): SimulatorCounts;
}

function post(
  agent: Agent,
  url: string,
  body: unknown,
): Promise<{ status: number; version: string | undefined; json: unknown }> {
  const payload = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      url,
      {
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown = null;
          try {
            json = JSON.parse(text);
          } catch {
            json = text;
          }
          const header = res.headers['x-model-version'];
          resolve({ status: res.statusCode ?? 0, version: typeof header === 'string' ? header : undefined, json });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

export function createTrafficSimulator(options: TrafficSimulatorOptions): TrafficSimulator {
  const agent = new Agent({ keepAlive: true, maxSockets: options.concurrency ?? 8 });
  const environment = options.environment ?? 'production';
  const concurrency = options.concurrency ?? 8;
  const counts: SimulatorCounts = { sent: 0, ok: 0, failed: 0, labelled: 0, byVersion: {}, lastError: null };
  const pending = new Set<Promise<unknown>>();
  // Requests awaiting their answer; labels waiting out their delay do not hold the rate back.
  let inflight = 0;
  let cursor = 0;

  const nextRow = (): CreditRow => {
    if (typeof options.rows === 'function') return options.rows();
    if (options.rows.length === 0) throw new Error('the simulator needs at least one row');
    return options.rows[cursor++ % options.rows.length]!;
  };

  const track = (p: Promise<unknown>) => {
    pending.add(p);
    void p.finally(() => pending.delete(p));
  };

  async function feedback(id: string, label: 0 | 1): Promise<void> {
    if (options.feedbackDelayMs! > 0) await new Promise((r) => setTimeout(r, options.feedbackDelayMs));
    try {
      const res = await post(agent, `${options.url}/feedback`, { id, label });
      if (res.status === 200) counts.labelled++;
    } catch (err) {
      counts.lastError = describeError(err);
    }
  }

  async function one(): Promise<void> {
    const full = nextRow();
    // The model must not see the outcome it is asked to predict.
    const { [options.labelColumn ?? LABEL_COLUMN]: truth, ...row } = full;
    counts.sent++;
    try {
      const res = await post(agent, `${options.url}/predict`, { model: options.model, environment, row });
      if (res.status !== 200) {
        counts.failed++;
        counts.lastError = `HTTP ${res.status}: ${JSON.stringify(res.json)}`;
        return;
      }
      counts.ok++;
      if (res.version) counts.byVersion[res.version] = (counts.byVersion[res.version] ?? 0) + 1;
      const id = (res.json as { predictions?: { id?: string }[] }).predictions?.[0]?.id;
      const label = truth === 1 || truth === '1' ? 1 : truth === 0 || truth === '0' ? 0 : null;
      if (options.feedbackDelayMs !== undefined && id && label !== null) track(feedback(id, label));
    } catch (err) {
      counts.failed++;
      counts.lastError = describeError(err);
    }
  }

  let timer: NodeJS.Timeout | undefined;
  const snapshot = (): SimulatorCounts => ({ ...counts, byVersion: { ...counts.byVersion } });

  return {
    counts: snapshot,
    async send(count) {
      let left = count;
      const worker = async () => {
        while (left > 0) {
          left--;
          await one();
        }
      };
      await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
      while (pending.size > 0) await Promise.all([...pending]);
      return snapshot();
    },
    start(ratePerSecond) {
      if (timer) return;
      if (!(ratePerSecond > 0)) throw new Error(`ratePerSecond must be positive, got ${ratePerSecond}`);
      const started = Date.now();
      let issued = 0;
      // Catch up every tick to the count the rate implies, skipping while the server lags.
      timer = setInterval(() => {
        const due = Math.floor(((Date.now() - started) / 1000) * ratePerSecond);
        while (issued < due && inflight < concurrency * 4) {
          issued++;
          inflight++;
          track(one().finally(() => inflight--));
        }
        issued = Math.max(issued, due - concurrency * 4);
      }, 10);
    },
    async stop() {
      if (timer) clearInterval(timer);
      timer = undefined;
      while (pending.size > 0) await Promise.all([...pending]);
      agent.destroy();
      return snapshot();
    },
  };
}
