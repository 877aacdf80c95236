// The built `mlops-agent worker`, beside a `serve` that only takes webhooks, both against
// the real Redis under a prefix of their own: runs cross processes, a SIGTERM hands an
// unfinished run to the next worker, and no Redis means a clear refusal.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createRedisRunStore } from '../../src/agent/redis-run-store.js';
import type { Run } from '../../src/agent/run.js';
import { createBullmqRunQueue } from '../../src/intake/index.js';
import { REDIS_URL, uniqueNames, wipe } from '../integration/intake/redis-helpers.js';
import { eventually, startCli, type CliProcess } from '../support/cli-process.js';
import { chatTextReply, startFakeOpenAiServer } from '../support/fake-openai-server.js';
import { runCli } from '../support/run-cli.js';

const TOKEN = 'worker-e2e-token-0123456789';
const AUTH = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
// One prefix per test: BullMQ's stalled check is paced queue-wide by the last worker's
// settings, so workers of one test must not share a queue with another test's.
const prefixes: string[] = [];
let prefix = '';
const dirs: string[] = [];
const running: CliProcess[] = [];

async function dir(yaml?: string): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'mlops-worker-e2e-'));
  dirs.push(d);
  if (yaml) await writeFile(join(d, 'mlops-agent.yaml'), yaml);
  return d;
}

function start(args: string[], cwd: string, env: Record<string, string> = {}): CliProcess {
  const p = startCli(args, {
    cwd,
    env: {
      MLOPS_AGENT_HOME: cwd,
      REDIS_URL,
      MLOPS_AGENT_QUEUE_PREFIX: prefix,
      MLOPS_AGENT_API_TOKEN: TOKEN,
      MLOPS_AGENT_LLM: 'runbook',
      ...env,
    },
  });
  running.push(p);
  return p;
}

beforeEach(() => {
  prefix = uniqueNames().prefix;
  prefixes.push(prefix);
});
afterEach(async () => {
  for (const p of running.splice(0))
    if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
});
afterAll(async () => {
  for (const p of prefixes) await wipe(p, 'runs');
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('mlops-agent worker (the built command)', () => {
  it('refuses to start without Redis, saying how to set it, and exits 2', async () => {
    const home = await dir();
    const { code, stderr, stdout } = await runCli(['worker'], { cwd: home, env: { MLOPS_AGENT_HOME: home } });
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toContain('mlops-agent worker needs Redis');
    expect(stderr).toContain('export REDIS_URL=redis://');
  });

  it('executes the runs a serve without an in-process worker queued, and counts them on its own /metrics', async () => {
    const serve = start(['serve', '--port', '0'], await dir('worker:\n  inProcess: false\n'));
    const worker = start(['worker'], await dir(), { MLOPS_AGENT_METRICS_PORT: '0' });
    const [, url] = await serve.line(
      /serving on (http:\/\/127\.0\.0\.1:\d+) \(queue: BullMQ on Redis; no in-process worker/,
    );
    const [, metricsUrl] = await worker.line(
      new RegExp(
        `worker consuming runs from redis://127\\.0\\.0\\.1:6379 \\(prefix ${prefix}; 2 at a time; metrics on (http://127\\.0\\.0\\.1:\\d+)\\)`,
      ),
    );

    const alert = {
      name: 'ModelDriftDetected',
      labels: { model: 'credit-risk', dataset: 'credit-recent', environment: 'production' },
      summary: 'PSI 0.41',
    };
    const posted = await fetch(`${url}/v1/alerts`, { method: 'POST', headers: AUTH, body: JSON.stringify(alert) });
    expect(posted.status).toBe(202);
    const { runId } = (await posted.json()) as { runId: string };
    const run = await eventually('the worker to finish the run', async () => {
      const body = (await (await fetch(`${url}/v1/runs/${runId}`, { headers: AUTH })).json()) as { status: string };
      return body.status === 'queued' || body.status === 'running' ? undefined : (body as Record<string, unknown>);
    });
    // The lab has no data set: the runbook's check fails and the run stops there, failed.
    expect(run).toMatchObject({
      status: 'failed',
      planner: 'runbook:drift-retrain',
      trigger: { kind: 'alert', principal: 'agent:alerts' },
    });
    expect(String(run.answer)).toContain('stopped at step check');

    const workerMetrics = await (await fetch(`${metricsUrl}/metrics`, { headers: AUTH })).text();
    expect(workerMetrics).toContain('mlops_agent_runs_settled_total{trigger="alert",outcome="failed"} 1');
    expect(workerMetrics).toContain('mlops_agent_tool_calls_total{tool="check_data_quality",decision="allow"} 1');
    expect((await fetch(`${metricsUrl}/metrics`)).status).toBe(401);
    const serveMetrics = await (await fetch(`${url}/metrics`, { headers: AUTH })).text();
    expect(serveMetrics).toContain('mlops_agent_runs_enqueued_total{trigger="alert",coalesced="false"} 1');
    expect(serveMetrics).not.toContain('mlops_agent_runs_settled_total{');

    // The operator's view of it: runs in Redis, whichever process executed them.
    const shown = await runCli(['runs', 'show', runId], {
      cwd: await dir(),
      env: { REDIS_URL, MLOPS_AGENT_QUEUE_PREFIX: prefix },
    });
    expect(shown.code).toBe(0);
    expect(shown.stdout).toContain('ALERT     ModelDriftDetected firing: PSI 0.41');
    expect(shown.stdout).toContain(`run ${runId} failed after`);

    // The run is over, so its resolved notice has nothing to join and starts nothing.
    const resolved = await fetch(`${url}/v1/alerts`, {
      method: 'POST',
      headers: AUTH,
      body: JSON.stringify({ ...alert, status: 'resolved' }),
    });
    expect(resolved.status).toBe(202);
    expect(await resolved.json()).toMatchObject({
      runId: null,
      coalesced: false,
      message: expect.stringContaining('nothing was started'),
    });

    expect(await worker.stop()).toBe(0);
    expect(await serve.stop()).toBe(0);
  });

  it('hands a run still active after the shutdown grace to the next worker, which resumes it', async () => {
    const llm = await startFakeOpenAiServer();
    try {
      // The first answer comes too late for the first worker; the restarted one gets the second.
      llm.script({ ...chatTextReply('too late'), delayMs: 20_000 }, chatTextReply('credit-risk v1 is champion'));
      const yaml = 'worker:\n  shutdownGraceMs: 300\n  lockDurationMs: 1000\n';
      const env = { MLOPS_AGENT_LLM: 'openai', OPENAI_BASE_URL: llm.baseUrl };
      const first = start(['worker'], await dir(yaml), env);
      await first.line(/worker consuming runs/);
      const producer = createBullmqRunQueue({ connection: REDIS_URL, prefix, queueName: 'runs' });
      const runs = createRedisRunStore({ connection: REDIS_URL, prefix });
      try {
        const { runId } = await producer.enqueue({
          kind: 'chat',
          principal: { id: 'user:alice', roles: [] },
          text: 'which credit-risk version is champion?',
          data: null,
        });
        await eventually('the first worker to ask the LLM', async () => (llm.requests.length >= 1 ? true : undefined));
        expect(await first.stop()).toBe(0);
        expect(first.stderr).toContain('handed back');
        expect((await runs.get(runId))?.status).toBe('running');

        const second = start(['worker'], await dir(yaml), env);
        const run = await eventually('the second worker to finish the run', async () => {
          const stored = await runs.get(runId);
          return stored && stored.status !== 'running' ? stored : undefined;
        }).catch((err) => {
          throw new Error(
            `${err}\nfirst: ${first.stderr}\nsecond: ${second.stderr}\nllm requests: ${llm.requests.length}`,
          );
        });
        expect(run).toMatchObject<Partial<Run>>({ status: 'succeeded', answer: 'credit-risk v1 is champion' });
        // Resumed from its stored transcript, not started again.
        expect(run.transcript.filter((i) => i.kind === 'trigger')).toHaveLength(1);
        expect(llm.requests).toHaveLength(2);
        expect(await second.stop()).toBe(0);
      } finally {
        await producer.close();
        await runs.close();
      }
    } finally {
      await llm.close();
    }
  });
});
