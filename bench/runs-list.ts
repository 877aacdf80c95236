// `runs list` at 20,000 stored runs: the newest page read through the index (the file
// store's index.log, Redis's sorted set by creation time) against the full scan every
// listing did before (read every run, sort), both measured here, on the same stores.
// Run: npm run bench:runs   (RUNS=n to change the count; REDIS_URL, default the local one)
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { createRedisRunStore } from '../src/agent/redis-run-store.js';
import { rebuildRunIndex } from '../src/agent/run-index.js';
import { createFileRunStore, type RunStore } from '../src/agent/run-store.js';
import type { Run } from '../src/agent/run.js';

const RUNS = Number(process.env.RUNS ?? 20_000);
const PAGE = 20;
const REPS = 5;
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

const template = JSON.parse(
  await readFile(new URL('../test/fixtures/runs/v1-run.json', import.meta.url), 'utf8'),
) as Run;
const start = Date.parse('2026-01-01T00:00:00.000Z');
const runAt = (i: number): Run => {
  const at = new Date(start + i * 60_000).toISOString();
  return {
    ...template,
    id: `run_bench_${String(i).padStart(6, '0')}`,
    status: i % 7 === 0 ? 'failed' : 'succeeded',
    createdAt: at,
    updatedAt: at,
    endedAt: at,
  };
};

async function ms(fn: () => Promise<unknown>): Promise<number> {
  const t = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t) / 1e6;
}

/** The median of `reps` timings (each caller has run `fn` once already: page cache, connections). */
async function median(fn: () => Promise<unknown>, reps = REPS): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < reps; i++) times.push(await ms(fn));
  return times.sort((a, b) => a - b)[Math.floor(reps / 2)]!;
}

async function compare(name: string, store: RunStore): Promise<void> {
  const page = await store.recent({ limit: PAGE });
  if (page.length !== PAGE || page[0]!.id !== runAt(RUNS - 1).id)
    throw new Error(`${name}: the indexed page is wrong: ${page.map((r) => r.id).join(', ')}`);
  const scanPage = async () => (await store.list()).reverse().slice(0, PAGE);
  const scanned = await scanPage();
  if (scanned.map((r) => r.id).join() !== page.map((r) => r.id).join())
    throw new Error(`${name}: the scan and the index disagree`);
  const indexed = await median(() => store.recent({ limit: PAGE }));
  await store.recent({ limit: PAGE, status: 'failed' });
  const failed = await median(() => store.recent({ limit: PAGE, status: 'failed' }));
  // The scan reads every run: three timings are enough to take a median of.
  const scan = await median(scanPage, 3);
  console.log(
    `${name}: newest ${PAGE} of ${RUNS} runs: full scan ${scan.toFixed(0)} ms, index ${indexed.toFixed(1)} ms (${(scan / indexed).toFixed(0)}x faster); with --status failed ${failed.toFixed(1)} ms`,
  );
}

// Files: written directly (20,000 fsync'd saves would take minutes), then indexed the way a
// store from before the index is, once; then saved runs keep it.
const dir = mkdtempSync(join(tmpdir(), 'mlops-bench-runs-'));
const prefix = `mlops-bench-runs-${randomBytes(4).toString('hex')}`;
const redis = new Redis(REDIS_URL);
const redisStore = createRedisRunStore({ connection: REDIS_URL, prefix });
try {
  for (let i = 0; i < RUNS; i++) {
    const run = runAt(i);
    await writeFile(join(dir, `${run.id}.json`), JSON.stringify(run, null, 2));
  }
  const built = await ms(() => rebuildRunIndex(dir));
  console.log(
    `file store: ${RUNS} run files of ${JSON.stringify(template, null, 2).length} bytes; index built once in ${built.toFixed(0)} ms`,
  );
  await compare('file store', createFileRunStore(dir));

  for (let i = 0; i < RUNS; i += 200)
    await Promise.all(Array.from({ length: Math.min(200, RUNS - i) }, (_, k) => redisStore.save(runAt(i + k))));
  await compare('redis store', redisStore);
} finally {
  rmSync(dir, { recursive: true, force: true });
  await redisStore.close();
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    if (keys.length) await redis.del(...keys);
    cursor = next;
  } while (cursor !== '0');
  await redis.quit();
}
