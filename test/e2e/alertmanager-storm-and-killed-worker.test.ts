// The issue's "done when", with the built command: Alertmanager v4 webhooks posted to a
// `serve` with Redis start exactly one run per alert group however often each group is
// sent, and a run whose `mlops-agent worker` is SIGKILLed mid-run is taken over by another
// worker, which resumes it from its stored transcript without redoing the rollback the
// dead worker had already executed.
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
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
import {
  chatTextReply,
  startFakeOpenAiServer,
  toolCallsReply,
  type FakeOpenAiServer,
  type RecordedOpenAiRequest,
} from '../support/fake-openai-server.js';
import { runCli } from '../support/run-cli.js';

const TOKEN = 'alertmanager-e2e-token-0123456789';
const AUTH = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };

interface AlertGroup {
  alertname: string;
  model: string;
  environment: string;
  summary: (instance: string) => string;
}

const latency: AlertGroup = {
  alertname: 'ModelLatencyHigh',
  model: 'credit-risk',
  environment: 'production',
  summary: (i) => `p99 latency of credit-risk on ${i} is 212 ms (bound 50 ms)`,
};
const fraudDrift: AlertGroup = {
  alertname: 'ModelDriftDetected',
  model: 'fraud-detector',
  environment: 'production',
  summary: (i) => `PSI 0.31 on fraud-detector inputs at ${i}`,
};
const churnDrift: AlertGroup = {
  alertname: 'ModelDriftDetected',
  model: 'churn-predictor',
  environment: 'production',
  summary: (i) => `PSI 0.27 on churn-predictor inputs at ${i}`,
};

const ZERO_TIME = '0001-01-01T00:00:00Z';

/** Alertmanager's fingerprint is a hash of the sorted label set; any stable 16 hex digits serve here. */
function fingerprintOf(labels: Record<string, string>): string {
  const canonical = Object.keys(labels)
    .sort()
    .map((k) => `${k}=${labels[k]}`)
    .join(',');
  return createHash('sha256').update(canonical).digest('hex').slice(0, 16);
}

function common(sets: Record<string, string>[]): Record<string, string> {
  const [first, ...rest] = sets;
  return Object.fromEntries(Object.entries(first ?? {}).filter(([k, v]) => rest.every((s) => s[k] === v)));
}

/**
 * One notification of `group` as Alertmanager sends it to a webhook receiver, grouped by
 * alertname and model under a `team="ml"` route, holding the alerts firing on `instances`.
 * Sending it again with more instances is what a new alert in the group does after
 * group_interval; sending it unchanged is what repeat_interval does.
 */
function notification(group: AlertGroup, instances: string[]) {
  const alerts = instances.map((instance, i) => {
    const labels = {
      alertname: group.alertname,
      model: group.model,
      environment: group.environment,
      severity: 'page',
      team: 'ml',
      job: 'model-server',
      instance,
    };
    return {
      status: 'firing',
      labels,
      annotations: {
        summary: group.summary(instance),
        description: `${group.alertname} for ${group.model} in ${group.environment}`,
        runbook_url: `https://runbooks.example.com/${group.alertname}`,
      },
      startsAt: new Date(Date.UTC(2025, 2, 4, 2, 11 + i, 30)).toISOString(),
      endsAt: ZERO_TIME,
      generatorURL: `http://prometheus-0.monitoring:9090/graph?g0.expr=${encodeURIComponent(`model:alert{model="${group.model}"} > 0`)}&g0.tab=1`,
      fingerprint: fingerprintOf(labels),
    };
  });
  return {
    receiver: 'mlops-agent',
    status: 'firing',
    alerts,
    groupLabels: { alertname: group.alertname, model: group.model },
    commonLabels: common(alerts.map((a) => a.labels)),
    commonAnnotations: common(alerts.map((a) => a.annotations)),
    externalURL: 'http://alertmanager-0.monitoring:9093',
    version: '4',
    groupKey: `{}/{team="ml"}:{alertname="${group.alertname}", model="${group.model}"}`,
    truncatedAlerts: 0,
  };
}

/** The group's last notification: every alert resolved, as with send_resolved. */
function resolvedNotification(group: AlertGroup, instances: string[]) {
  const firing = notification(group, instances);
  const endsAt = new Date(Date.UTC(2025, 2, 4, 3, 0, 0)).toISOString();
  return { ...firing, status: 'resolved', alerts: firing.alerts.map((a) => ({ ...a, status: 'resolved', endsAt })) };
}

/** Notifications of one group in a storm: first one alert, then a second joins, then repeats. */
const storm = (group: AlertGroup) =>
  [['pod-0'], ['pod-0', 'pod-1'], ['pod-0', 'pod-1'], ['pod-0', 'pod-1', 'pod-2']].map((instances) =>
    notification(group, instances),
  );

interface Accepted {
  runId: string;
  coalesced: boolean;
}

describe('an Alertmanager storm through serve, with a worker killed mid-run (the built command)', () => {
  const prefix = uniqueNames().prefix;
  const dirs: string[] = [];
  const running: CliProcess[] = [];
  let llm: FakeOpenAiServer;
  let url = '';

  async function dir(yaml: string): Promise<string> {
    const d = await mkdtemp(join(tmpdir(), 'mlops-alertmanager-e2e-'));
    dirs.push(d);
    await writeFile(join(d, 'mlops-agent.yaml'), yaml);
    return d;
  }

  function start(args: string[], home: string): CliProcess {
    const env = {
      MLOPS_AGENT_HOME: home,
      REDIS_URL,
      MLOPS_AGENT_QUEUE_PREFIX: prefix,
      MLOPS_AGENT_API_TOKEN: TOKEN,
      MLOPS_AGENT_LLM: 'openai',
      OPENAI_BASE_URL: llm.baseUrl,
    };
    const p = startCli(args, { cwd: home, env });
    running.push(p);
    return p;
  }

  async function post(payload: unknown): Promise<Accepted> {
    const res = await fetch(`${url}/v1/alerts/alertmanager`, {
      method: 'POST',
      headers: AUTH,
      body: JSON.stringify(payload),
    });
    const body = (await res.json()) as Accepted;
    expect(res.status, JSON.stringify(body)).toBe(202);
    expect(body.runId).toMatch(/^run_/);
    return body;
  }

  const run = async (id: string) =>
    (await (await fetch(`${url}/v1/runs/${id}`, { headers: AUTH })).json()) as {
      status: string;
      answer: string | null;
      transcript: any[];
    };
  const finished = (id: string) =>
    eventually(`run ${id} to finish`, async () => {
      const r = await run(id);
      return r.status === 'queued' || r.status === 'running' ? undefined : r;
    });
  /** The model a planner request is about: its first user message is the run's trigger. */
  const modelAskedAbout = (r: RecordedOpenAiRequest) =>
    [latency, fraudDrift, churnDrift].find((g) =>
      (r.body.messages as any[]).find((m) => m.role === 'user')?.content.includes(g.model),
    )?.model;

  beforeAll(async () => {
    llm = await startFakeOpenAiServer();
  });

  afterAll(async () => {
    for (const p of running) {
      if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
      await p.exited;
    }
    await llm?.close();
    await wipe(prefix, 'runs');
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it('starts one run per group however often each is sent, and finishes the run of a SIGKILLed worker on another without redoing its rollback', async () => {
    // The workers' home: credit-risk v1 serves production, so a rollback has something to act on.
    // A short lock makes the dead worker's run stalled within about a second.
    const workerHome = await dir('worker:\n  lockDurationMs: 1000\n');
    const lab = await openLocalLab({
      config: loadConfig({ env: { MLOPS_AGENT_HOME: workerHome }, cwd: workerHome }),
      logger: silentLogger,
    });
    await lab.registry.createModel('credit-risk', 'probability of default');
    await lab.registry.registerVersion(versionInput('credit-risk', 0.86));
    await lab.registry.registerVersion(versionInput('credit-risk', 0.88));
    await lab.deployer.serve('credit-risk', 'production', '1');
    // v2 holds a canary share when the latency alert comes: the runbook's rollback (its
    // mitigation, run before the LLM plans) has it to take off traffic.
    await lab.deployer.startCanary({
      model: 'credit-risk',
      version: '2',
      environment: 'production',
      targetPercent: 5,
      requestedBy: 'operator',
      timeoutMs: 60_000,
    });
    await lab.close();

    const serve = start(['serve', '--port', '0'], await dir('worker:\n  inProcess: false\n'));
    [, url] = (await serve.line(
      /serving on (http:\/\/127\.0\.0\.1:\d+) \(queue: BullMQ on Redis; no in-process worker/,
    )) as unknown as [string, string];

    // The worker takes runs one at a time, oldest first: the two drift runs get an answer
    // each; the latency run rolls back first (the runbook's mitigation), then the LLM
    // proposes a rollback of its own (nothing left to roll back), and its next turn never
    // comes back to this worker.
    const rollbackArgs = {
      model: 'credit-risk',
      environment: 'production',
      reason: 'ModelLatencyHigh: p99 212 ms on credit-risk in production',
    };
    llm.script(
      chatTextReply('Drift noted; no change made.'),
      chatTextReply('Drift noted; no change made.'),
      toolCallsReply([{ name: 'rollback', args: rollbackArgs }]),
      { ...chatTextReply('never delivered: the worker asking is killed first'), delayMs: 120_000 },
      chatTextReply('Rolled credit-risk in production back to v1, its last known-good version.'),
    );

    // The drift groups storm before any worker runs: every notification of both, at once
    // (Alertmanager replicas in a cluster can each deliver a group's notification).
    const drifts = [fraudDrift, churnDrift];
    const driftReplies = await Promise.all(drifts.map((g) => Promise.all(storm(g).map(post))));
    const driftRuns = driftReplies.map((replies) => {
      expect(new Set(replies.map((r) => r.runId)).size).toBe(1);
      expect(replies.filter((r) => !r.coalesced)).toHaveLength(1);
      return replies[0]!.runId;
    });
    expect(new Set(driftRuns).size).toBe(2);

    const [first, ...repeats] = storm(latency);
    const latencyRun = await post(first);
    expect(latencyRun.coalesced).toBe(false);
    const runId = latencyRun.runId;

    const firstWorker = start(['worker', '--concurrency', '1'], workerHome);
    await firstWorker.line(/worker consuming runs/);
    await eventually('the latency run to ask its second turn', async () =>
      llm.requests.length >= 4 ? true : undefined,
    );
    expect(llm.requests.map(modelAskedAbout)).toEqual([
      expect.stringMatching(/^(fraud-detector|churn-predictor)$/),
      expect.stringMatching(/^(fraud-detector|churn-predictor)$/),
      'credit-risk',
      'credit-risk',
    ]);
    for (const id of driftRuns)
      expect(await finished(id)).toMatchObject({ status: 'succeeded', answer: 'Drift noted; no change made.' });
    const before = await run(runId);
    expect(before.status).toBe('running');
    expect(before.transcript.filter((i) => i.kind === 'result')).toEqual([
      expect.objectContaining({
        callId: 'call_1',
        name: 'rollback',
        outcome: expect.objectContaining({
          status: 'executed',
          output: expect.objectContaining({ noop: false, rolledBack: { version: '2', percent: 1 } }),
        }),
      }),
      expect.objectContaining({
        callId: 'call_2',
        name: 'rollback',
        outcome: expect.objectContaining({ status: 'executed', output: expect.objectContaining({ noop: true }) }),
      }),
    ]);
    expect(before.transcript[1]).toMatchObject({ kind: 'plan', mitigation: true });

    // Repeats while the run is active join it, at once as in a storm.
    for (const reply of await Promise.all(repeats.slice(0, 2).map(post)))
      expect(reply).toMatchObject({ runId, coalesced: true, incident: 'joined' });

    firstWorker.child.kill('SIGKILL');
    await firstWorker.exited;
    const killedAt = Date.now();
    expect(firstWorker.child.signalCode).toBe('SIGKILL');
    // The dead worker's run still holds its group: the next notification joins it, and no
    // second run is started for the group while nobody works on the first.
    expect(await post(repeats[2])).toMatchObject({ runId, coalesced: true, incident: 'joined' });

    // Same home, so both workers write one audit log; the dead one's writer lock is taken over.
    const secondWorker = start(['worker'], workerHome);
    const after = await finished(runId).catch((err) => {
      throw new Error(`${err}\nfirst worker: ${firstWorker.stderr}\nsecond worker: ${secondWorker.stderr}`);
    });
    const recoveredInMs = Date.now() - killedAt;
    expect(after).toMatchObject({
      status: 'succeeded',
      answer: 'Rolled credit-risk in production back to v1, its last known-good version.',
    });
    // Taken over once the 1 s lock lapsed (about 2.5 s here, most of it the second worker
    // starting), not after BullMQ's default 30 s.
    expect(recoveredInMs).toBeLessThan(20_000);

    // Resumed from the stored transcript: one trigger, the mitigation's rollback and its
    // note, the LLM's rollback planned and answered once, then the three notifications that
    // joined during the hung turn and after the kill, then the answer.
    expect(after.transcript.map((i) => i.kind)).toEqual([
      'trigger',
      'plan',
      'result',
      'note',
      'plan',
      'result',
      'note',
      'answer',
    ]);
    expect(after.transcript[6].text).toContain('3 more notice(s) for this alert joined the run (3 firing)');
    expect(llm.requests).toHaveLength(5);
    const resumedTurn = llm.requests[4]!;
    expect(modelAskedAbout(resumedTurn)).toBe('credit-risk');
    const toolMessages = (resumedTurn.body.messages as any[]).filter((m) => m.role === 'tool');
    expect(toolMessages.map((m) => m.tool_call_id)).toEqual(['call_1', 'call_2']);
    // Tool results reach the model as data, wrapped like the alert.
    const wrapped = /^<untrusted_data source="tool_result:rollback">\n([^]*)\n<\/untrusted_data>$/.exec(
      toolMessages[0].content as string,
    );
    expect(JSON.parse(wrapped![1]!)).toMatchObject({ tool: 'rollback', status: 'executed' });

    // Each rollback was executed once, by the first worker, and never again; only the
    // mitigation's moved traffic (the second had nothing to roll back and wrote nothing).
    const entries = await readAuditEntries(join(workerHome, 'audit.jsonl'), { runId });
    const count = (kind: string) => entries.filter((e) => e.kind === kind).length;
    expect(entries.filter((e) => e.kind === 'execution.started').map((e) => e.data)).toEqual([
      { callId: 'call_1', tool: 'rollback', idempotencyKey: `${runId}:call_1` },
      { callId: 'call_2', tool: 'rollback', idempotencyKey: `${runId}:call_2` },
    ]);
    expect([
      count('run.started'),
      count('run.mitigated'),
      count('call.proposed'),
      count('call.replayed'),
      count('run.joined'),
      count('run.finished'),
    ]).toEqual([1, 1, 2, 0, 1, 1]);
    const history = (await readFile(join(workerHome, 'lab', 'deployments', 'deployment-history.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { action: string; by: string });
    expect(history.map((h) => [h.action, h.by])).toEqual([
      ['serve', 'operator'],
      ['canary_step', 'operator'],
      ['rollback', 'agent:alertmanager'],
    ]);

    // Three groups, three runs, whatever each sent.
    const listed = (await (await fetch(`${url}/v1/runs`, { headers: AUTH })).json()) as {
      runs: { id: string; status: string }[];
    };
    expect(listed.runs.map((r) => r.id).sort()).toEqual([runId, ...driftRuns].sort());
    expect(listed.runs.every((r) => r.status === 'succeeded')).toBe(true);
    const metrics = await (await fetch(`${url}/metrics`, { headers: AUTH })).text();
    expect(metrics).toContain('mlops_agent_runs_enqueued_total{trigger="alert",coalesced="false"} 3');
    expect(metrics).toContain('mlops_agent_runs_enqueued_total{trigger="alert",coalesced="true"} 9');

    // Each run released its group when it ended, the recovered one too: the resolved
    // notifications find no run to join and start none.
    for (const group of [latency, fraudDrift, churnDrift]) {
      const resolved = await fetch(`${url}/v1/alerts/alertmanager`, {
        method: 'POST',
        headers: AUTH,
        body: JSON.stringify(resolvedNotification(group, ['pod-0', 'pod-1', 'pod-2'])),
      });
      expect(resolved.status).toBe(202);
      expect(await resolved.json()).toMatchObject({ runId: null, coalesced: false });
    }

    expect(await secondWorker.stop()).toBe(0);
    expect(await serve.stop()).toBe(0);
    const verify = await runCli(['audit', 'verify'], { cwd: workerHome, env: { MLOPS_AGENT_HOME: workerHome } });
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
    expect(verify.stdout).toMatch(/audit log intact: \d+ entries/);
  });
});
