// The built `serve` and `worker` keep working across a Redis restart: while a private
// redis-server of the test's own is down, webhooks answer 503 at once (Alertmanager
// retries on 5xx) and readiness names Redis; once it is back on the same port and data,
// without restarting either process, readiness recovers and runs flow again.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { eventually, startCli, type CliProcess } from '../support/cli-process.js';
import { startPrivateRedis, type PrivateRedis } from '../support/private-redis.js';
import { runCli } from '../support/run-cli.js';

const TOKEN = 'redis-restart-e2e-token-0123456789';
const AUTH = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
const PREFIX = 'mlops';
const YAML = 'worker:\n  lockDurationMs: 1000\n';
const OUTAGE_MS = 12_000;
/**
 * Redis back, how soon serve must be ready and the worker executing again: it takes well
 * under a second; the bound leaves room for a loaded machine, and fails the reconnect
 * delays BullMQ grows to (20 s) by default.
 */
const RECOVERY_MS = 10_000;
const dirs: string[] = [];
const running: CliProcess[] = [];
let redis: PrivateRedis | null = null;

async function dir(yaml: string): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'mlops-redis-restart-e2e-'));
  dirs.push(d);
  await writeFile(join(d, 'mlops-agent.yaml'), yaml);
  return d;
}

function start(args: string[], cwd: string, url: string): CliProcess {
  const p = startCli(args, {
    cwd,
    env: {
      MLOPS_AGENT_HOME: cwd,
      REDIS_URL: url,
      MLOPS_AGENT_QUEUE_PREFIX: PREFIX,
      MLOPS_AGENT_API_TOKEN: TOKEN,
      MLOPS_AGENT_LLM: 'runbook',
    },
  });
  running.push(p);
  return p;
}

function alive(p: CliProcess): boolean {
  return p.child.exitCode === null && p.child.signalCode === null;
}

async function post(
  url: string,
  alert: object,
): Promise<{ status: number; ms: number; retryAfter: string | null; body: Record<string, unknown> }> {
  const t0 = Date.now();
  // Bounded, so a hanging request fails the test instead of timing it out.
  const res = await fetch(`${url}/v1/alerts`, {
    method: 'POST',
    headers: AUTH,
    body: JSON.stringify(alert),
    signal: AbortSignal.timeout(15_000),
  });
  const body = (await res.json()) as Record<string, unknown>;
  return { status: res.status, ms: Date.now() - t0, retryAfter: res.headers.get('retry-after'), body };
}

async function finished(url: string, runId: string): Promise<Record<string, unknown>> {
  return eventually(`the worker to finish run ${runId}`, async () => {
    const body = (await (await fetch(`${url}/v1/runs/${runId}`, { headers: AUTH })).json()) as Record<string, unknown>;
    return body.status === 'queued' || body.status === 'running' ? undefined : body;
  });
}

afterAll(async () => {
  for (const p of running.splice(0)) if (alive(p)) p.child.kill('SIGKILL');
  await redis?.destroy();
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('serve and worker across a Redis restart (the built command)', () => {
  it('answer 503 at once while Redis is down, stay up, and take and execute runs again once it is back', async () => {
    redis = await startPrivateRedis();
    const serve = start(['serve', '--port', '0'], await dir(`${YAML}  inProcess: false\n`), redis.url);
    const worker = start(['worker'], await dir(YAML), redis.url);
    const [, url] = await serve.line(
      /serving on (http:\/\/127\.0\.0\.1:\d+) \(queue: BullMQ on Redis; no in-process worker/,
    );
    await worker.line(
      new RegExp(`worker consuming runs from redis://127\\.0\\.0\\.1:${redis.port} \\(prefix ${PREFIX}`),
    );

    const labels = { dataset: 'credit-recent', environment: 'production' };
    const before = await post(url!, {
      name: 'ModelDriftDetected',
      labels: { ...labels, model: 'credit-risk' },
      summary: 'PSI 0.41',
    });
    expect(before.status).toBe(202);
    const firstId = before.body.runId as string;
    // The lab has no data set: the runbook's check fails and the run stops there, failed.
    expect(await finished(url!, firstId)).toMatchObject({ status: 'failed', planner: 'runbook:drift-retrain' });

    await redis.kill('SIGKILL');
    const killedAt = Date.now();

    // An outage of about 12 s, with Alertmanager retrying its notification every second
    // meanwhile: each try is answered 503 at once, never left hanging; readiness names
    // Redis, liveness stays up. (Long enough that a reconnect delay growing with the
    // outage, as BullMQ's default does, would show after the restart below.)
    const afterAlert = { name: 'ModelDriftDetected', labels: { ...labels, model: 'fraud-score' }, summary: 'PSI 0.38' };
    const refusedMs: number[] = [];
    const notReadyMs: number[] = [];
    while (Date.now() - killedAt < OUTAGE_MS) {
      const down = await post(url!, afterAlert);
      expect(down.status).toBe(503);
      expect(down.retryAfter).toMatch(/^\d+$/);
      expect(down.body).toMatchObject({
        error: 'upstream_failed',
        message: expect.stringMatching(new RegExp(`Redis at 127\\.0\\.0\\.1:${redis.port} is unreachable`)),
      });
      refusedMs.push(down.ms);

      const t0 = Date.now();
      const notReady = await fetch(`${url}/readyz`, { headers: AUTH, signal: AbortSignal.timeout(15_000) });
      notReadyMs.push(Date.now() - t0);
      expect(notReady.status).toBe(503);
      expect(((await notReady.json()) as { problems: string[] }).problems).toContainEqual(
        expect.stringMatching(/^redis: Redis at .* is unreachable/),
      );
      expect((await fetch(`${url}/healthz`)).status).toBe(200);
      expect(alive(serve) && alive(worker)).toBe(true);
      // The sender's pace during the outage, not a wait for anything.
      await new Promise((r) => setTimeout(r, 1000));
    }
    expect(Math.max(...refusedMs)).toBeLessThan(2000);
    expect(Math.max(...notReadyMs)).toBeLessThan(2000);

    await redis.restart();
    const restartedAt = Date.now();
    await eventually(
      '/readyz to answer 200 again',
      async () => ((await fetch(`${url}/readyz`, { headers: AUTH })).status === 200 ? true : undefined),
      RECOVERY_MS,
    );
    const readyMs = Date.now() - restartedAt;

    // Alertmanager's next retry is taken; none of the refused ones had started a run.
    const after = await post(url!, afterAlert);
    expect(after).toMatchObject({ status: 202, body: { coalesced: false } });
    const secondId = after.body.runId as string;
    const taken = await eventually(
      'the worker to take the new run',
      async () => {
        const body = (await (await fetch(`${url}/v1/runs/${secondId}`, { headers: AUTH })).json()) as {
          status: string;
        };
        return body.status === 'queued' ? undefined : Date.now();
      },
      RECOVERY_MS,
    );
    expect(await finished(url!, secondId)).toMatchObject({ status: 'failed', planner: 'runbook:drift-retrain' });

    // The run from before the outage is still there: Redis kept it in its append-only file.
    const listed = await runCli(['runs', 'list'], {
      cwd: await dir(''),
      env: { REDIS_URL: redis.url, MLOPS_AGENT_QUEUE_PREFIX: PREFIX },
    });
    expect(listed.code).toBe(0);
    const lines = listed.stdout.trim().split('\n');
    // A header row, then the newest run first.
    expect(lines).toHaveLength(3);
    expect(lines[1]).toMatch(
      new RegExp(`${secondId}\\s+failed\\s+alert\\s+\\d+\\s+\\S+\\s+ModelDriftDetected firing: PSI 0\\.38`),
    );
    expect(lines[2]).toMatch(
      new RegExp(`${firstId}\\s+failed\\s+alert\\s+\\d+\\s+\\S+\\s+ModelDriftDetected firing: PSI 0\\.41`),
    );

    // Neither process crashed or reported an unhandled rejection while Redis was away.
    expect(alive(serve) && alive(worker)).toBe(true);
    for (const p of [serve, worker]) expect(p.stderr).not.toMatch(/unhandled|uncaught/i);
    console.info(
      `Redis down ${restartedAt - killedAt} ms: ${refusedMs.length} alerts answered 503 in ${Math.min(...refusedMs)}–${Math.max(...refusedMs)} ms, /readyz 503 in ${Math.min(...notReadyMs)}–${Math.max(...notReadyMs)} ms; ` +
        `Redis back: /readyz 200 after ${readyMs} ms, the worker took a new run ${taken - restartedAt} ms after the restart`,
    );
    expect(await worker.stop()).toBe(0);
    expect(await serve.stop()).toBe(0);
  });
});
