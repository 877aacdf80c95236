// The drift runbook as `serve` runs it, with long waits parked: an Alertmanager webhook
// starts the run; it parks while the retrain trains and again while the canary steps, and
// is listed as `waiting` over HTTP meanwhile; each end resumes it; the promotion then
// waits for people. In-memory backends hold the job and the canary until the test ends them.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isParked } from '../../../src/agent/run.js';
import { createWaitSweeper, type WaitSweeper } from '../../../src/agent/wait-sweeper.js';
import { verifyAuditFile } from '../../../src/audit/index.js';
import { systemClock } from '../../../src/clock.js';
import { loadConfig } from '../../../src/app/config.js';
import { agentRunHandler, createLocalRunQueue, type RunQueue } from '../../../src/intake/index.js';
import { silentLogger } from '../../../src/logger.js';
import { createRuntime, type Runtime } from '../../../src/app/runtime.js';
import { createServer } from '../../../src/server/index.js';
import { eventually } from '../../support/cli-process.js';
import { memoryBackends, type MemoryBackends } from '../../support/memory-backends.js';
import { SCOPES } from '../../../src/api-tokens.js';

const TOKEN = 'operator-token-0123456789abcdef';
const AUTH = { authorization: `Bearer ${TOKEN}` };

function driftAlert(groupKey: string) {
  const labels = {
    alertname: 'ModelDriftDetected',
    model: 'credit-risk',
    dataset: 'credit-recent',
    environment: 'production',
  };
  return {
    version: '4',
    groupKey,
    truncatedAlerts: 0,
    status: 'firing',
    receiver: 'mlops-agent',
    groupLabels: { alertname: 'ModelDriftDetected' },
    commonLabels: labels,
    commonAnnotations: {},
    externalURL: 'http://alertmanager:9093',
    alerts: [
      {
        status: 'firing',
        labels,
        annotations: { summary: 'drift' },
        startsAt: '2026-11-23T16:00:00Z',
        endsAt: '0001-01-01T00:00:00Z',
        generatorURL: 'http://prom',
        fingerprint: 'f1',
      },
    ],
  };
}

describe('the drift runbook with parked long waits, over HTTP', () => {
  let home: string;
  let backends: MemoryBackends;
  let runtime: Runtime;
  let queue: RunQueue;
  let waits: WaitSweeper;
  let app: FastifyInstance;

  beforeAll(async () => {
    home = await mkdtemp(join(tmpdir(), 'mlops-long-waits-routes-'));
    const config = loadConfig({ env: { MLOPS_AGENT_HOME: home, MLOPS_AGENT_LLM: 'runbook' }, cwd: home });
    config.server.tokens = [{ token: TOKEN, principal: 'user:operator', scopes: [...SCOPES] }];
    backends = memoryBackends();
    backends.holdJobs = true;
    backends.holdCanaries = true;
    runtime = await createRuntime({ config, logger: silentLogger, backends, longWaits: 'park' });
    queue = createLocalRunQueue({ attempts: 1 });
    waits = createWaitSweeper({
      gate: runtime.gate,
      runs: runtime.runs,
      resume: (id) => queue.resume(id),
      clock: systemClock,
      logger: silentLogger,
    });
    queue.process(
      agentRunHandler(runtime.agent, runtime.runs, { onSettled: (run) => isParked(run.status) && waits.watch(run) }),
      { concurrency: 1 },
    );
    app = await createServer({
      runtime,
      queue,
      runs: runtime.runs,
      approvals: runtime.approvals,
      tokens: config.server.tokens,
      logger: silentLogger,
    });
    await app.ready();
  });

  afterAll(async () => {
    await app?.close();
    await waits?.stop();
    await queue?.close();
    await runtime?.close();
    await rm(home, { recursive: true, force: true });
  });

  const listed = async (status: string) =>
    (
      (await app.inject({ method: 'GET', url: `/v1/runs?status=${status}`, headers: AUTH })).json() as {
        runs: { id: string }[];
      }
    ).runs.map((r) => r.id);
  const shown = async (id: string) =>
    (await app.inject({ method: 'GET', url: `/v1/runs/${id}`, headers: AUTH })).json() as {
      status: string;
      transcript: { kind: string; name?: string; outcome?: { status: string; summary?: string } }[];
    };
  const parkedOn = (id: string, tool: string) =>
    eventually(`the run to park on ${tool}`, async () => {
      const run = await shown(id);
      const last = run.transcript.at(-1);
      return run.status === 'waiting' && last?.name === tool && last.outcome?.status === 'waiting' ? run : undefined;
    });

  it('parks on the retrain and on the canary, listed as waiting, and goes on to ask for the promotion', async () => {
    const posted = await app.inject({
      method: 'POST',
      url: '/v1/alerts/alertmanager',
      headers: AUTH,
      payload: driftAlert('{}:{alertname="ModelDriftDetected"}'),
    });
    expect(posted.statusCode).toBe(202);
    const { runId } = posted.json() as { runId: string };

    await parkedOn(runId, 'trigger_retrain');
    expect(await listed('waiting')).toEqual([runId]);
    expect(await listed('running')).toEqual([]);
    backends.finishJob(`job-${runId}:call_2`);

    const onCanary = await parkedOn(runId, 'deploy_canary');
    expect(onCanary.transcript.find((i) => i.kind === 'wait')).toMatchObject({
      name: 'trigger_retrain',
      outcome: { status: 'executed', summary: expect.stringContaining('registered v2') },
    });
    backends.endCanary('credit-risk', 'production');

    await eventually('the promotion to wait for people', async () =>
      (await shown(runId)).status === 'waiting_approval' ? true : undefined,
    );
    expect(await listed('waiting_approval')).toEqual([runId]);
    expect(await listed('waiting')).toEqual([]);
    const run = await shown(runId);
    expect(run.transcript.filter((i) => i.kind === 'wait').map((i) => [i.name, i.outcome?.status])).toEqual([
      ['trigger_retrain', 'executed'],
      ['deploy_canary', 'executed'],
    ]);
    expect(backends.calls.filter((c) => c.startsWith('trainer.start') || c.startsWith('deployer.startCanary'))).toEqual(
      ['trainer.start:credit-recent', 'deployer.startCanary:2@5'],
    );
    expect((await verifyAuditFile(runtime.config.auditFile)).ok).toBe(true);
  });
});
