// A closed-loop HTTP load generator for the benchmarks: `concurrency` keep-alive clients
// POST the bodies in turn until `total` requests or `maxSeconds`, and every answer must
// carry `expectStatus`. Both sides of a comparison use it, so the ratio is fair.
import { Agent, request } from 'node:http';
import { performance } from 'node:perf_hooks';

export interface LoadResult {
  rps: number;
  p50: number;
  p99: number;
  count: number;
}

export interface LoadOptions {
  url: string;
  bodies: readonly string[];
  total: number;
  concurrency: number;
  maxSeconds: number;
  expectStatus: number;
  headers?: Record<string, string>;
}

export async function loadHttp(options: LoadOptions): Promise<LoadResult> {
  const { url, bodies, total, concurrency, expectStatus } = options;
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const latencies: number[] = [];
  let issued = 0;
  const deadline = performance.now() + options.maxSeconds * 1000;
  const one = (body: string) =>
    new Promise<void>((resolve, reject) => {
      const headers = {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body),
        ...options.headers,
      };
      const req = request(url, { method: 'POST', agent, headers }, (res) => {
        if (res.statusCode !== expectStatus) reject(new Error(`HTTP ${res.statusCode}, expected ${expectStatus}`));
        res.resume();
        res.on('end', resolve);
      });
      req.on('error', reject);
      req.end(body);
    });
  const client = async () => {
    while (issued < total && performance.now() < deadline) {
      const body = bodies[issued++ % bodies.length]!;
      const t = performance.now();
      await one(body);
      latencies.push(performance.now() - t);
    }
  };
  const start = performance.now();
  await Promise.all(Array.from({ length: concurrency }, client));
  const seconds = (performance.now() - start) / 1000;
  agent.destroy();
  const asc = Float64Array.from(latencies).sort();
  const pct = (p: number) => asc[Math.max(0, Math.ceil(p * asc.length) - 1)]!;
  return { rps: latencies.length / seconds, p50: pct(0.5), p99: pct(0.99), count: latencies.length };
}
