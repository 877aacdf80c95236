// One incident, one run, with the built command over real HTTP and Redis: 500 Alertmanager
// notifications for 5 groups, in waves over several seconds and again after the runs
// ended, start 5 runs and 5 rollbacks; the same notification from both Alertmanagers of an
// HA pair starts one run; a flapping alert starts a second run only when it fires again.
// Without Redis the index is kept in files, so a restart of serve forgets no incident.
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readAuditEntries } from '../../src/audit/index.js';
import { openLocalLab } from '../../src/backends/local/index.js';
import { loadConfig } from '../../src/app/config.js';
import { silentLogger } from '../../src/logger.js';
import { versionInput } from '../contract/model-registry.contract.js';
import { REDIS_URL, uniqueNames, wipe } from '../integration/intake/redis-helpers.js';
import { eventually, startCli, type CliProcess } from '../support/cli-process.js';
import { runCli } from '../support/run-cli.js';

const TOKEN = 'incident-storm-e2e-token-0123456789';
const AUTH = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
const MODELS = ['m-0', 'm-1', 'm-2', 'm-3', 'm-4', 'm-ha', 'm-flap'];
const dirs: string[] = [];
const running: CliProcess[] = [];

interface Accepted {
  runId: string | null;
  coalesced: boolean;
  incident: 'new' | 'joined' | 'duplicate' | 'resolved';
  message?: string;
}

const fingerprint = (labels: Record<string, string>) =>
  createHash('sha256')
    .update(JSON.stringify(Object.entries(labels).sort()))
    .digest('hex')
    .slice(0, 16);

/** One notification of the ModelLatencyHigh group of `model`, as Alertmanager replica `replica` sends it. */
function notification(
  model: string,
  pods: string[],
  options: { status?: 'firing' | 'resolved'; startsAt?: string; replica?: number } = {},
) {
  const status = options.status ?? 'firing';
  const alerts = pods.map((pod) => {
    const labels = { alertname: 'ModelLatencyHigh', model, environment: 'production', severity: 'warning', pod };
    return {
      status,
      labels,
      annotations: { summary: `p99 latency of ${model} on ${pod} is 212 ms` },
      startsAt: options.startsAt ?? '2026-11-23T16:00:00Z',
      endsAt: status === 'resolved' ? '2026-11-23T17:00:00Z' : '0001-01-01T00:00:00Z',
      generatorURL: 'http://prometheus:9090/graph',
      fingerprint: fingerprint(labels),
    };
  });
  return {
    version: '4',
    groupKey: `{}:{alertname="ModelLatencyHigh", model="${model}"}`,
    truncatedAlerts: 0,
    status,
    receiver: 'mlops-agent',
    groupLabels: { alertname: 'ModelLatencyHigh', model },
    commonLabels: { alertname: 'ModelLatencyHigh', model, environment: 'production', severity: 'warning' },
    commonAnnotations: {},
    externalURL: `http://alertmanager-${options.replica ?? 0}:9093`,
    alerts,
  };
}

async function tempDir(tag: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `mlops-storm-${tag}-`));
  dirs.push(dir);
  return dir;
}

/** A lab home serving v1 of every model in production, so each rollback has a model to act on. */
async function labHome(): Promise<string> {
  const home = await tempDir('home');
  const lab = await openLocalLab({
    config: loadConfig({ env: { MLOPS_AGENT_HOME: home }, cwd: home }),
    logger: silentLogger,
  });
  for (const model of MODELS) {
    await lab.registry.createModel(model, 'a served model');
    await lab.registry.registerVersion(versionInput(model, 0.86));
    await lab.deployer.serve(model, 'production', '1');
  }
  await lab.close();
  return home;
}

function serve(home: string, env: Record<string, string>): CliProcess {
  const p = startCli(['serve', '--port', '0'], {
    cwd: home,
    env: { MLOPS_AGENT_HOME: home, MLOPS_AGENT_API_TOKEN: TOKEN, MLOPS_AGENT_LLM: 'runbook', ...env },
  });
  running.push(p);
  return p;
}

afterAll(async () => {
  for (const p of running) {
    if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
    await p.exited;
  }
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

function client(url: () => string) {
  const post = async (payload: unknown): Promise<Accepted> => {
    const res = await fetch(`${url()}/v1/alerts/alertmanager`, {
      method: 'POST',
      headers: AUTH,
      body: JSON.stringify(payload),
    });
    const body = (await res.json()) as Accepted;
    expect(res.status, JSON.stringify(body)).toBe(202);
    return body;
  };
  const run = async (id: string) =>
    (await (await fetch(`${url()}/v1/runs/${id}`, { headers: AUTH })).json()) as {
      status: string;
      transcript: { kind: string; name?: string }[];
    };
  const ended = (id: string) =>
    eventually(`run ${id} to end`, async () => {
      const r = await run(id);
      return r.status === 'succeeded' || r.status === 'failed' ? r : undefined;
    });
  const runs = async () =>
    ((await (await fetch(`${url()}/v1/runs`, { headers: AUTH })).json()) as { runs: { id: string; status: string }[] })
      .runs;
  return { post, run, ended, runs };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('alert storms, repeats, an HA pair and a flapping alert through serve with Redis (the built command)', () => {
  const { prefix } = uniqueNames();
  let home = '';
  let url = '';
  const { post, ended, runs } = client(() => url);

  beforeAll(async () => {
    home = await labHome();
    const p = serve(home, { REDIS_URL, MLOPS_AGENT_QUEUE_PREFIX: prefix });
    url = (await p.line(/serving on (http:\/\/127\.0\.0\.1:\d+) \(queue: BullMQ on Redis/))[1]!;
  });

  afterAll(async () => {
    for (const p of running) await p.stop();
    await wipe(prefix, 'runs');
  });

  it('starts 5 runs and 5 rollbacks for 500 notifications of 5 groups in waves, and nothing for repeats after the runs ended', async () => {
    const groups = MODELS.slice(0, 5);
    // Runs other tests of this file started (in any order) are not this test's.
    const before = new Set((await runs()).map((r) => r.id));
    const replies: Accepted[][] = groups.map(() => []);
    // 5 waves of 80 over about 3 s (16 per group each, from both replicas), then 100 more
    // once every run has ended: repeat_interval re-sends of the still-firing alerts.
    for (let wave = 0; wave < 5; wave++) {
      const sent = groups.flatMap((model, g) =>
        Array.from({ length: 16 }, (_, i) =>
          post(notification(model, ['pod-0', 'pod-1', 'pod-2'], { replica: i % 2 })).then((r) => replies[g]!.push(r)),
        ),
      );
      await Promise.all(sent);
      await sleep(600);
    }
    const runIds = replies.map((rs) => {
      const ids = new Set(rs.map((r) => r.runId));
      expect(ids.size, JSON.stringify(rs.slice(0, 3))).toBe(1);
      return rs[0]!.runId!;
    });
    expect(new Set(runIds).size).toBe(5);
    for (const id of runIds) expect((await ended(id)).status).toBe('succeeded');

    const repeats = await Promise.all(
      groups.flatMap((model) =>
        Array.from({ length: 20 }, (_, i) =>
          post(notification(model, ['pod-0', 'pod-1', 'pod-2'], { replica: i % 2 })),
        ),
      ),
    );
    for (const [g, model] of groups.entries()) {
      const mine = repeats.filter((_, i) => Math.floor(i / 20) === g);
      expect(
        mine.every((r) => r.incident === 'duplicate' && r.runId === runIds[g]),
        `${model}: ${JSON.stringify(mine[0])}`,
      ).toBe(true);
    }
    expect(repeats[0]!.message).toMatch(/already handled by run run_\S+, which has ended; nothing was started/);

    const all = replies.flat().concat(repeats);
    expect(all).toHaveLength(500);
    expect(all.filter((r) => r.incident === 'new' && !r.coalesced)).toHaveLength(5);
    const listed = (await runs()).filter((r) => runIds.includes(r.id));
    expect(listed).toHaveLength(5);
    expect((await runs()).filter((r) => !runIds.includes(r.id) && !before.has(r.id))).toEqual([]);
    const entries = (await readAuditEntries(join(home, 'audit.jsonl'))).filter(
      (e) => e.runId === null || !before.has(e.runId),
    );
    const rollbacks = entries.filter((e) => e.kind === 'execution.finished' && e.data.tool === 'rollback');
    expect(rollbacks.map((e) => e.runId).sort()).toEqual([...runIds].sort());
    // Every notification that found its run ended is recorded as a duplicate of it (the waves after the runs ended, and the repeats).
    const duplicates = all.filter((r) => r.incident === 'duplicate');
    expect(duplicates.length).toBeGreaterThanOrEqual(100);
    expect(entries.filter((e) => e.kind === 'alert.duplicate')).toHaveLength(duplicates.length);
    expect(
      all.filter((r) => r.incident !== 'duplicate').every((r) => r.incident === 'joined' || r.incident === 'new'),
    ).toBe(true);
  });

  it('starts one run for the same notification from both Alertmanagers of an HA pair', async () => {
    const [a, b] = await Promise.all([
      post(notification('m-ha', ['pod-0'], { replica: 0 })),
      post(notification('m-ha', ['pod-0'], { replica: 1 })),
    ]);
    expect(a.runId).toBe(b.runId);
    expect([a.incident, b.incident].sort()).toEqual(['joined', 'new']);
    await ended(a.runId!);
    // Each replica repeats it later (repeat_interval): nothing new.
    const later = await Promise.all([
      post(notification('m-ha', ['pod-0'], { replica: 0 })),
      post(notification('m-ha', ['pod-0'], { replica: 1 })),
    ]);
    expect(later.map((r) => [r.incident, r.runId])).toEqual([
      ['duplicate', a.runId],
      ['duplicate', a.runId],
    ]);
  });

  it('starts a second run for a flapping alert only when it fires again after it resolved', async () => {
    const first = await post(notification('m-flap', ['pod-0'], { startsAt: '2026-11-23T16:00:00Z' }));
    expect(first.incident).toBe('new');
    await ended(first.runId!);
    const resolved = await post(
      notification('m-flap', ['pod-0'], { status: 'resolved', startsAt: '2026-11-23T16:00:00Z' }),
    );
    expect(resolved).toMatchObject({ incident: 'resolved', runId: null });
    // A late copy of the first firing (the other replica, a retry) is that firing still.
    expect(
      await post(notification('m-flap', ['pod-0'], { startsAt: '2026-11-23T16:00:00Z', replica: 1 })),
    ).toMatchObject({ incident: 'duplicate', runId: first.runId });
    const refired = await post(notification('m-flap', ['pod-0'], { startsAt: '2026-11-23T16:20:00Z' }));
    expect(refired).toMatchObject({ incident: 'new', coalesced: false });
    expect(refired.runId).not.toBe(first.runId);
    await ended(refired.runId!);
    expect(await post(notification('m-flap', ['pod-0'], { startsAt: '2026-11-23T16:20:00Z' }))).toMatchObject({
      incident: 'duplicate',
      runId: refired.runId,
    });
  });
});

describe('the incident index without Redis (the built command)', () => {
  it('outlives a restart of serve: a repeat of an incident handled before it starts nothing', async () => {
    const home = await labHome();
    await writeFile(join(home, 'mlops-agent.yaml'), 'worker:\n  concurrency: 1\n');
    let url = '';
    const { post, ended } = client(() => url);
    const first = serve(home, {});
    url = (await first.line(/serving on (http:\/\/127\.0\.0\.1:\d+) \(queue: in-process/))[1]!;
    const accepted = await post(notification('m-0', ['pod-0']));
    await ended(accepted.runId!);
    expect(await first.stop()).toBe(0);

    const second = serve(home, {});
    url = (await second.line(/serving on (http:\/\/127\.0\.0\.1:\d+)/))[1]!;
    expect(await post(notification('m-0', ['pod-0']))).toMatchObject({ incident: 'duplicate', runId: accepted.runId });
    // A new alert in the group is a new incident.
    const more = await post(notification('m-0', ['pod-0', 'pod-1']));
    expect(more).toMatchObject({ incident: 'new', coalesced: false });
    await ended(more.runId!);
    expect(await second.stop()).toBe(0);
    const verify = await runCli(['audit', 'verify'], { cwd: home, env: { MLOPS_AGENT_HOME: home } });
    expect(verify.code, verify.stderr).toBe(0);
  });
});
