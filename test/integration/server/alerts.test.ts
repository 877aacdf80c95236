// The alert webhooks wired as `serve` wires them (config, runtime, local lab, in-process
// queue): a generic JSON alert starts a run the runbook answers, and a resolved notice
// never starts one: it ends the run it joins when that run has changed nothing yet, or,
// with no run to join, is only recorded.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readAuditEntries } from '../../../src/audit/index.js';
import {
  closeAgentProcess,
  openAgentProcess,
  startWorking,
  type AgentProcess,
} from '../../../src/app/agent-process.js';
import { loadConfig, type Config } from '../../../src/app/config.js';
import { silentLogger } from '../../../src/logger.js';
import { createServer } from '../../../src/server/index.js';
import { eventually } from '../../support/cli-process.js';

const TOKEN = 'alerts-token-0123456789abcdef';
const AUTH = { authorization: `Bearer ${TOKEN}` };
const labels = { model: 'credit-risk', dataset: 'credit-recent', environment: 'production' };

let home: string;
let config: Config;
let agent: AgentProcess;
let app: FastifyInstance;

beforeEach(async () => {
  home = await mkdtemp(join(tmpdir(), 'mlops-alerts-'));
  config = loadConfig({
    env: {
      MLOPS_AGENT_HOME: home,
      MLOPS_AGENT_LOG_LEVEL: 'silent',
      MLOPS_AGENT_LLM: 'runbook',
      MLOPS_AGENT_API_TOKEN: TOKEN,
    },
    cwd: home,
  });
  agent = await openAgentProcess(config, silentLogger, { executesRuns: true });
  app = await createServer({
    runtime: agent.runtime,
    queue: agent.queue,
    runs: agent.runtime.runs,
    tokens: config.server.tokens,
    logger: silentLogger,
    metrics: agent.metrics,
  });
  await app.ready();
});

afterEach(async () => {
  await app.close();
  await closeAgentProcess(agent, 5_000, silentLogger);
  await rm(home, { recursive: true, force: true });
});

const post = (url: string, payload: unknown) =>
  app.inject({ method: 'POST', url, headers: AUTH, payload: payload as Record<string, unknown> });

async function finished(runId: string): Promise<Record<string, unknown>> {
  return eventually(`run ${runId} to end`, async () => {
    const res = await app.inject({ method: 'GET', url: `/v1/runs/${runId}`, headers: AUTH });
    const body = res.json() as { status: string };
    return res.statusCode === 200 && body.status !== 'queued' && body.status !== 'running'
      ? (body as Record<string, unknown>)
      : undefined;
  });
}

function alertmanager(status: 'firing' | 'resolved') {
  const all = { alertname: 'ModelDriftDetected', ...labels };
  return {
    version: '4',
    groupKey: '{}:{alertname="ModelDriftDetected"}',
    truncatedAlerts: 0,
    status,
    receiver: 'mlops-agent',
    groupLabels: { alertname: 'ModelDriftDetected' },
    commonLabels: all,
    commonAnnotations: {},
    externalURL: 'http://alertmanager:9093',
    alerts: [
      {
        status,
        labels: all,
        annotations: {},
        startsAt: '2026-11-23T16:00:00Z',
        endsAt: '0001-01-01T00:00:00Z',
        generatorURL: 'http://prometheus',
        fingerprint: 'f1',
      },
    ],
  };
}

describe('POST /v1/alerts', () => {
  it('starts a run the runbook answers, as agent:alerts with the sender recorded, and coalesces repeats', async () => {
    const alert = { name: 'ModelDriftDetected', labels, summary: 'PSI 0.41 on credit_utilization' };
    const first = await post('/v1/alerts', alert);
    expect(first.statusCode).toBe(202);
    const { runId } = first.json() as { runId: string };
    expect((await post('/v1/alerts', { ...alert, summary: 'PSI 0.44' })).json()).toMatchObject({
      runId,
      coalesced: true,
      incident: 'joined',
    });
    startWorking(agent, 2);
    const run = await finished(runId);
    // The lab has no data set: the runbook's data check fails, so the run ends failed, saying why.
    expect(run).toMatchObject({
      status: 'failed',
      planner: 'runbook:drift-retrain',
      error: expect.stringContaining('dataset "credit-recent" not found'),
      trigger: {
        kind: 'alert',
        principal: 'agent:alerts',
        text: 'ModelDriftDetected firing: PSI 0.41 on credit_utilization',
      },
    });
    const trigger = (run.transcript as { kind: string; data?: unknown }[])[0]!;
    expect(trigger.data).toMatchObject({
      sender: 'user:operator',
      labels: { alertname: 'ModelDriftDetected', ...labels },
    });
  });

  it('answers 400 naming the field for a malformed alert', async () => {
    const res = await post('/v1/alerts', { name: 'X', status: 'broken', extra: 1 });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ error: 'input_invalid' });
    expect((res.json() as { message: string }).message).toMatch(
      /status: Invalid enum value.*Unrecognized key\(s\) in object: 'extra'/,
    );
  });
});

describe('a resolved notice', () => {
  it('with no run to join, starts nothing, answers 202 saying so, and is recorded in the audit log', async () => {
    startWorking(agent, 2);
    const res = await post('/v1/alerts', { name: 'ModelDriftDetected', status: 'resolved', labels });
    expect(res.statusCode).toBe(202);
    expect(res.json()).toEqual({
      runId: null,
      coalesced: false,
      incident: 'resolved',
      message: 'no queued, active or parked run for this alert, so nothing was started; recorded in the audit log',
    });
    const am = await post('/v1/alerts/alertmanager', alertmanager('resolved'));
    expect(am.json()).toMatchObject({ runId: null, coalesced: false });
    expect(await agent.queue.depth()).toBe(0);
    expect(await agent.runtime.runs.list()).toEqual([]);
    const recorded = (await readAuditEntries(config.auditFile)).filter((e) => e.kind === 'alert.resolved');
    expect(recorded.map((e) => [e.principal, e.data.receiver, e.data.joined, e.runId])).toEqual([
      ['agent:alerts', 'generic', false, null],
      ['agent:alertmanager', 'alertmanager', false, null],
    ]);
  });

  it('that joins a queued Alertmanager run ends it, succeeded, before it acts', async () => {
    const { runId } = (await post('/v1/alerts/alertmanager', alertmanager('firing'))).json() as { runId: string };
    const resolved = await post('/v1/alerts/alertmanager', alertmanager('resolved'));
    expect(resolved.json()).toEqual({
      runId,
      coalesced: true,
      incident: 'resolved',
      message: `recorded on run ${runId}, which has changed nothing yet: it ends before its next step, without acting`,
    });
    startWorking(agent, 2);
    const run = await finished(runId);
    expect(run).toMatchObject({ status: 'succeeded', steps: 0 });
    expect(String(run.answer)).toMatch(/^The alert resolved \(notice at .*\) before any change was needed/);
    expect((run.transcript as { kind: string }[]).map((i) => i.kind)).toEqual(['trigger', 'note', 'answer']);
    const kinds = (await readAuditEntries(config.auditFile)).filter((e) => e.runId === runId).map((e) => e.kind);
    expect(kinds).toEqual(['alert.resolved', 'run.started', 'run.joined', 'run.resolved', 'run.finished']);
    const metrics = (await app.inject({ method: 'GET', url: '/metrics', headers: AUTH })).body;
    expect(metrics).toContain(
      'mlops_agent_webhook_duration_seconds_count{receiver="alertmanager",outcome="resolved_joined"} 1',
    );
  });

  it('that joins a run which started work says so, and does not end it', async () => {
    const { runId } = (await post('/v1/alerts/alertmanager', alertmanager('firing'))).json() as { runId: string };
    // The run as a worker left it: parked while its training job runs.
    const now = new Date().toISOString();
    await agent.runtime.runs.save({
      schemaVersion: 1,
      id: runId,
      trigger: {
        kind: 'alert',
        principal: { id: 'agent:alertmanager', roles: [] },
        text: 'ModelDriftDetected firing',
        data: {},
      },
      status: 'waiting',
      planner: 'runbook:drift-retrain',
      fallback: null,
      transcript: [
        { kind: 'trigger', trigger: 'alert', text: 'ModelDriftDetected firing', data: {} },
        { kind: 'plan', text: null, calls: [{ id: 'call_1', name: 'trigger_retrain', args: {} }] },
        {
          kind: 'result',
          callId: 'call_1',
          name: 'trigger_retrain',
          outcome: {
            status: 'waiting',
            summary: 'training job job-1 running',
            handle: { jobId: 'job-1', waitForCompletion: true },
            startedAt: now,
            deadline: now,
          },
        },
      ],
      steps: 1,
      usage: { input: 0, output: 0 },
      answer: null,
      error: null,
      createdAt: now,
      updatedAt: now,
      endedAt: null,
      parkedAt: now,
    });
    const resolved = await post('/v1/alerts/alertmanager', alertmanager('resolved'));
    expect(resolved.json()).toEqual({
      runId,
      coalesced: true,
      incident: 'resolved',
      message: `recorded on run ${runId}, which has already started work (trigger_retrain): it does not end for this notice, it carries on and decides whether its remaining steps are still needed`,
    });
  });
});
