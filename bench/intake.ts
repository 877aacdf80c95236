// Alert-storm intake: webhook acknowledgements per second and latency of
// POST /v1/alerts/alertmanager on the real server (auth, validation, coalescing on BullMQ
// with Redis, metrics, info-level logs to /dev/null), against a bare Fastify handler that
// parses the same JSON and answers 202 in the same run, so the ratio shows what intake
// costs on top of HTTP and JSON. No worker runs: this measures the acknowledgement path.
// Needs Redis (127.0.0.1:6379 unless REDIS_URL says otherwise). Run: npm run bench:intake
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify from 'fastify';
import { pino } from 'pino';
import { loadHttp, type LoadResult } from './http-load.js';
import { createRedisRunStore } from '../src/agent/redis-run-store.js';
import { openFileAuditLog } from '../src/audit/index.js';
import { loadConfig } from '../src/app/config.js';
import { createBullmqRunQueue } from '../src/intake/index.js';
import { createServer } from '../src/server/index.js';
import { wipe } from '../test/integration/intake/redis-helpers.js';

// REDIS_URL (or redisUrl in ./mlops-agent.yaml) points it elsewhere.
const REDIS_URL = loadConfig().redisUrl ?? 'redis://127.0.0.1:6379';
const CONCURRENCY = 32;
const STORM = 20_000;
const GROUPS = 50;
const WARMUP = 2_000;
const MAX_SECONDS = 30;
const TOKEN = 'bench-intake-token-0123456789';

type Result = LoadResult;

/** One Alertmanager v4 notification per alert, spread over GROUPS groups. */
function payload(i: number): string {
  const group = `g${i % GROUPS}`;
  const labels = {
    alertname: 'ModelDriftDetected',
    model: `model-${group}`,
    dataset: 'recent',
    environment: 'production',
    instance: `pod-${i}`,
  };
  return JSON.stringify({
    version: '4',
    groupKey: `{}:{alertname="ModelDriftDetected",model="model-${group}"}`,
    truncatedAlerts: 0,
    status: 'firing',
    receiver: 'mlops-agent',
    groupLabels: { alertname: 'ModelDriftDetected', model: `model-${group}` },
    commonLabels: { alertname: 'ModelDriftDetected', model: `model-${group}` },
    commonAnnotations: { summary: 'Input drift' },
    externalURL: 'http://alertmanager:9093',
    alerts: [
      {
        status: 'firing',
        labels,
        annotations: { summary: `PSI 0.${i % 90} on income` },
        startsAt: '2026-11-23T16:00:00Z',
        endsAt: '0001-01-01T00:00:00Z',
        generatorURL: 'http://prometheus/graph',
        fingerprint: i.toString(16).padStart(16, '0'),
      },
    ],
  });
}

function load(url: string, bodies: string[], total: number): Promise<Result> {
  return loadHttp({
    url,
    bodies,
    total,
    concurrency: CONCURRENCY,
    maxSeconds: MAX_SECONDS,
    expectStatus: 202,
    headers: { authorization: `Bearer ${TOKEN}` },
  });
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'mlops-bench-intake-'));
  const prefix = `mlops-bench-${randomBytes(4).toString('hex')}`;
  const queueName = 'runs';
  const logger = pino({ level: 'info' }, pino.destination({ dest: '/dev/null', sync: true }));
  const queue = createBullmqRunQueue({ connection: REDIS_URL, prefix, queueName });
  const runs = createRedisRunStore({ connection: REDIS_URL, prefix });
  const audit = await openFileAuditLog({ file: join(dir, 'audit.jsonl') });
  try {
    const app = await createServer({
      runtime: { audit },
      queue,
      runs,
      tokens: [{ token: TOKEN, principal: 'agent:alertmanager', scopes: ['alerts'] }],
      logger,
    });
    const agentUrl = `${await app.listen({ port: 0, host: '127.0.0.1' })}/v1/alerts/alertmanager`;
    const bare = Fastify();
    bare.post('/v1/alerts/alertmanager', async (_request, reply) =>
      reply.code(202).send({ runId: 'run_0_00000000', coalesced: true }),
    );
    const bareUrl = `${await bare.listen({ port: 0, host: '127.0.0.1' })}/v1/alerts/alertmanager`;

    const bodies = Array.from({ length: STORM }, (_, i) => payload(i));
    await load(bareUrl, bodies, WARMUP);
    await load(agentUrl, bodies, WARMUP);
    const baseline = await load(bareUrl, bodies, STORM);
    const intake = await load(agentUrl, bodies, STORM);
    const depth = await queue.depth();

    const line = (name: string, r: Result) =>
      `${name.padEnd(26)} ${r.rps.toFixed(0).padStart(7)} acks/s   p50 ${r.p50.toFixed(3)} ms   p99 ${r.p99.toFixed(3)} ms   (${r.count} requests)`;
    console.log(
      `Alert storm: ${STORM} Alertmanager notifications in ${GROUPS} groups, keep-alive, concurrency ${CONCURRENCY}, 127.0.0.1, Redis ${REDIS_URL}`,
    );
    console.log(line('bare Fastify 202', baseline));
    console.log(line('mlops-agent intake', intake));
    console.log(
      `ratio (intake / bare): throughput ${(intake.rps / baseline.rps).toFixed(2)}x, p50 ${(intake.p50 / baseline.p50).toFixed(2)}x, p99 ${(intake.p99 / baseline.p99).toFixed(2)}x`,
    );
    console.log(`runs queued: ${depth} (one per group; every other notification joined its group's run)`);
    await app.close();
    await bare.close();
  } finally {
    await queue.close();
    await runs.close();
    await audit.close();
    await wipe(prefix, queueName, REDIS_URL);
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
