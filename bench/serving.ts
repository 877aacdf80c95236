// POST /predict throughput and latency of the lab's model server (single-row requests,
// keep-alive, fixed concurrency, 127.0.0.1) against a bare node:http server answering a
// constant JSON in the same run, so the ratio shows what routing, scoring, stats and
// metrics cost on top of HTTP itself.
// Run: npx tsx bench/serving.ts
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { trainBenchModel } from './bench-model.js';
import { loadHttp, type LoadResult } from './http-load.js';
import { systemClock } from '../src/clock.js';
import { silentLogger } from '../src/logger.js';
import { createModelServer } from '../src/backends/local/model-server.js';
import { createServingStats } from '../src/backends/local/serving-stats.js';
import { createTrafficRouter } from '../src/backends/local/traffic-router.js';

const CONCURRENCY = 16;
const REQUESTS = 20_000;
const WARMUP = 2_000;
const MAX_SECONDS = 20;

type Result = LoadResult;

function load(url: string, bodies: string[], total: number): Promise<Result> {
  return loadHttp({ url, bodies, total, concurrency: CONCURRENCY, maxSeconds: MAX_SECONDS, expectStatus: 200 });
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'mlops-bench-serving-'));
  try {
    const { artifact, rows } = await trainBenchModel(dir);

    const split = {
      model: 'credit-risk',
      environment: 'production' as const,
      stableVersion: '1',
      canaryVersion: '2',
      canaryPercent: 10,
      lastKnownGoodVersion: '1',
    };
    const server = await createModelServer({
      artifacts: { loadArtifact: async () => artifact },
      router: createTrafficRouter({ splits: { currentSplit: () => split } }),
      stats: createServingStats({ clock: systemClock }),
      logger: silentLogger,
    });
    const constant = JSON.stringify({
      predictions: [{ id: '00000000-0000-0000-0000-000000000000', score: 0.1234, version: '1' }],
    });
    const bare = createServer((req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end(constant));
    });
    await new Promise<void>((r) => bare.listen(0, '127.0.0.1', r));
    const bareUrl = `http://127.0.0.1:${(bare.address() as AddressInfo).port}/predict`;

    const bodies = rows
      .slice(0, 1000)
      .map(({ default: _label, ...row }) => JSON.stringify({ model: 'credit-risk', row }));
    await load(bareUrl, bodies, WARMUP);
    await load(`${server.url}/predict`, bodies, WARMUP);
    const baseline = await load(bareUrl, bodies, REQUESTS);
    const lab = await load(`${server.url}/predict`, bodies, REQUESTS);

    const line = (name: string, r: Result) =>
      `${name.padEnd(22)} ${r.rps.toFixed(0).padStart(7)} req/s   p50 ${r.p50.toFixed(3)} ms   p99 ${r.p99.toFixed(3)} ms   (${r.count} requests)`;
    console.log(`POST /predict, single row, keep-alive, concurrency ${CONCURRENCY}, 127.0.0.1`);
    console.log(line('bare node:http', baseline));
    console.log(line('lab model server', lab));
    console.log(
      `ratio (lab / bare): throughput ${(lab.rps / baseline.rps).toFixed(2)}x, p50 ${(lab.p50 / baseline.p50).toFixed(2)}x, p99 ${(lab.p99 / baseline.p99).toFixed(2)}x`,
    );
    await server.close();
    await new Promise((r) => bare.close(r));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
