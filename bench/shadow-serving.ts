// What a shadow costs the callers of the lab's model server: POST /predict throughput and
// latency with no shadow, then with a shadow mirroring 100% of the stable version's
// requests, in the same run on the same server. The shadow scores each copy after the
// answer is sent, so latency should barely move; throughput pays for the second scoring.
// Run: npx tsx bench/shadow-serving.ts
import { mkdtempSync, rmSync } from 'node:fs';
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
const REQUESTS = 10_000;
const ROUNDS = 3;
const WARMUP = 2_000;
const MAX_SECONDS = 20;

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'mlops-bench-shadow-'));
  try {
    const { artifact, rows } = await trainBenchModel(dir);
    const candidate = { ...artifact, bias: artifact.bias + 0.2 };
    const split = {
      model: 'credit-risk',
      environment: 'production' as const,
      stableVersion: '1',
      canaryVersion: null,
      canaryPercent: 0,
      lastKnownGoodVersion: '1',
    };
    let shadows: { version: string; mirrorPercent: number }[] = [];
    const stats = createServingStats({ clock: systemClock });
    const server = await createModelServer({
      artifacts: { loadArtifact: async (_model, version) => (version === '1' ? artifact : candidate) },
      router: createTrafficRouter({ splits: { currentSplit: () => split, currentShadows: () => shadows } }),
      stats,
      logger: silentLogger,
    });
    const bodies = rows
      .slice(0, 1000)
      .map(({ default: _label, ...row }) => JSON.stringify({ model: 'credit-risk', row }));
    const load = (total: number): Promise<LoadResult> =>
      loadHttp({
        url: `${server.url}/predict`,
        bodies,
        total,
        concurrency: CONCURRENCY,
        maxSeconds: MAX_SECONDS,
        expectStatus: 200,
      });

    // Rounds alternate, so a machine busy with something else slows both sides alike; the median round is reported.
    const plainRounds: LoadResult[] = [];
    const shadowedRounds: LoadResult[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      shadows = [];
      await load(WARMUP);
      plainRounds.push(await load(REQUESTS));
      shadows = [{ version: '2', mirrorPercent: 100 }];
      await load(WARMUP);
      shadowedRounds.push(await load(REQUESTS));
    }
    const median = (results: LoadResult[]) =>
      [...results].sort((a, b) => a.rps - b.rps)[Math.floor(results.length / 2)]!;
    const plain = median(plainRounds);
    const shadowed = median(shadowedRounds);
    const mirrored = stats.shadowWindow('credit-risk', 'production', '2', '1').requests;

    const line = (name: string, r: LoadResult) =>
      `${name.padEnd(26)} ${r.rps.toFixed(0).padStart(7)} req/s   p50 ${r.p50.toFixed(3)} ms   p99 ${r.p99.toFixed(3)} ms   (${r.count} requests)`;
    console.log(`POST /predict, single row, keep-alive, concurrency ${CONCURRENCY}, 127.0.0.1`);
    console.log(line('no shadow', plain));
    console.log(line('shadow mirroring 100%', shadowed));
    console.log(
      `requests mirrored to the shadow: ${mirrored} (the stats keep the newest 20,000); median of ${ROUNDS} alternating rounds`,
    );
    console.log(
      `ratio (shadowed / plain): throughput ${(shadowed.rps / plain.rps).toFixed(2)}x, p50 ${(shadowed.p50 / plain.p50).toFixed(2)}x, p99 ${(shadowed.p99 / plain.p99).toFixed(2)}x`,
    );
    await server.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
