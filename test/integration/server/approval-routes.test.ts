// Approvals over HTTP, end to end in one process: an Alertmanager webhook starts the
// drift runbook, which parks on the production promotion; people decide through the API
// with their own tokens; the run resumes through the queue and promotes exactly once.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApprovalSweeper, type ApprovalSweeper } from '../../../src/approvals/index.js';
import { verifyAuditFile } from '../../../src/audit/index.js';
import { loadConfig } from '../../../src/app/config.js';
import { agentRunHandler, createLocalRunQueue, type RunQueue } from '../../../src/intake/index.js';
import { silentLogger } from '../../../src/logger.js';
import { createRuntime, type Runtime } from '../../../src/app/runtime.js';
import { createServer } from '../../../src/server/index.js';
import { memoryBackends, type MemoryBackends } from '../../support/memory-backends.js';
import { SCOPES } from '../../../src/api-tokens.js';
import { eventually } from '../../support/eventually.js';

const tokens = {
  operator: 'operator-token-0123456789abcdef',
  alice: 'alice-token-0123456789abcdef',
  carol: 'carol-token-0123456789abcdef',
  mallory: 'mallory-token-0123456789abcdef',
};
const as = (who: keyof typeof tokens) => ({ authorization: `Bearer ${tokens[who]}` });

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

describe('approvals over HTTP', () => {
  let home: string;
  let backends: MemoryBackends;
  let runtime: Runtime;
  let queue: RunQueue;
  let sweeper: ApprovalSweeper;
  let app: FastifyInstance;

  beforeAll(async () => {
    home = await mkdtemp(join(tmpdir(), 'mlops-approval-routes-'));
    const config = loadConfig({ env: { MLOPS_AGENT_HOME: home, MLOPS_AGENT_LLM: 'runbook' }, cwd: home });
    config.server.tokens = [
      { token: tokens.operator, principal: 'user:operator', scopes: [...SCOPES] },
      { token: tokens.alice, principal: 'user:alice', scopes: ['read', 'approve'] },
      { token: tokens.carol, principal: 'user:carol', scopes: ['read', 'approve'] },
      { token: tokens.mallory, principal: 'user:mallory', scopes: ['read', 'approve'] },
    ];
    backends = memoryBackends();
    runtime = await createRuntime({ config, logger: silentLogger, backends });
    queue = createLocalRunQueue({ attempts: 1 });
    queue.process(agentRunHandler(runtime.agent, runtime.runs), { concurrency: 2 });
    sweeper = createApprovalSweeper({
      approvals: runtime.approvals,
      executeApproved: (id) => runtime.gate.executeApproved(id),
      runs: { resume: (id) => queue.resume(id), waiting: () => runtime.runs.list({ status: 'waiting_approval' }) },
      logger: silentLogger,
    });
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
    await sweeper?.stop();
    await queue?.close();
    await runtime?.close();
    await rm(home, { recursive: true, force: true });
  });

  it('parks the drift runbook on the production promotion, takes both approvals and resumes the run once', async () => {
    const posted = await app.inject({
      method: 'POST',
      url: '/v1/alerts/alertmanager',
      headers: as('operator'),
      payload: driftAlert('{}:{alertname="ModelDriftDetected"}'),
    });
    expect(posted.statusCode).toBe(202);
    const { runId } = posted.json() as { runId: string };

    const pending = await eventually('the promotion to wait for approval', async () => {
      const list = (
        await app.inject({ method: 'GET', url: '/v1/approvals?status=pending', headers: as('operator') })
      ).json() as { approvals: { id: string; runId: string; args: { trafficPercent: number }; stillNeeded: string }[] };
      return list.approvals.find((a) => a.runId === runId);
    });
    expect(pending.args.trafficPercent).toBe(100);
    expect(pending.stillNeeded).toContain('one from each of [ml-leads, risk-officers]');
    // The approval is stored a moment before the run records the result and parks.
    await eventually('the run to park', async () =>
      (await runtime.runs.get(runId))?.status === 'waiting_approval' ? true : undefined,
    );

    const decide = (who: keyof typeof tokens, payload: Record<string, unknown>) =>
      app.inject({ method: 'POST', url: `/v1/approvals/${pending.id}/decision`, headers: as(who), payload });

    const unauthorised = await decide('mallory', { verdict: 'grant' });
    expect(unauthorised.statusCode).toBe(403);
    expect(unauthorised.json()).toMatchObject({
      error: 'not_authorised',
      message: expect.stringContaining('user:mallory holds no roles'),
    });

    const noReason = await decide('carol', { verdict: 'deny' });
    expect(noReason.statusCode).toBe(400);
    expect(noReason.json().message).toContain('comment: a denial needs a comment');

    const wrongHash = await decide('alice', { verdict: 'grant', argsHash: '0'.repeat(64) });
    expect(wrongHash.statusCode).toBe(409);
    expect(wrongHash.json().error).toBe('args_mismatch');

    const first = await decide('alice', { verdict: 'grant', comment: 'canary held' });
    expect(first.statusCode).toBe(200);
    expect(first.json()).toMatchObject({
      resolved: false,
      approval: { status: 'pending', stillNeeded: expect.stringContaining('risk-officers') },
    });
    expect((await decide('alice', { verdict: 'grant' })).statusCode).toBe(409);

    // The channel is the route's to say: a body claiming another one is refused.
    const claimsCli = await decide('carol', { verdict: 'grant', via: 'cli' });
    expect(claimsCli.statusCode).toBe(400);
    expect(claimsCli.json().message).toContain("Unrecognized key(s) in object: 'via'");
    const second = await decide('carol', { verdict: 'grant' });
    expect(second.json()).toMatchObject({
      resolved: true,
      approval: { status: 'granted', resolution: 'granted by user:alice and user:carol' },
    });
    expect((second.json() as { approval: { votes: { via: string }[] } }).approval.votes.map((v) => v.via)).toEqual([
      'http',
      'http',
    ]);

    const run = await eventually('the run to finish', async () => {
      const r = await runtime.runs.get(runId);
      return r && r.status !== 'waiting_approval' && r.status !== 'running' ? r : undefined;
    });
    expect(run.status).toBe('succeeded');
    expect(backends.calls.filter((c) => c.startsWith('deployer.startCanary'))).toEqual([
      'deployer.startCanary:2@5',
      'deployer.startCanary:2@100',
    ]);
    const shown = (await app.inject({ method: 'GET', url: `/v1/runs/${runId}`, headers: as('operator') })).json() as {
      transcript: { kind: string; status?: string }[];
    };
    expect(shown.transcript.find((i) => i.kind === 'approval')).toMatchObject({ status: 'granted' });

    // A sweep after the fact changes nothing: the grant was used once.
    await sweeper.sweep();
    expect(backends.calls.filter((c) => c === 'deployer.startCanary:2@100')).toHaveLength(1);
    expect((await verifyAuditFile(runtime.config.auditFile)).ok).toBe(true);
  });

  it('answers 404 for an unknown approval and 400 for a malformed decision, naming the field', async () => {
    expect(
      (await app.inject({ method: 'GET', url: '/v1/approvals/apr_zzzz_00000000', headers: as('operator') })).statusCode,
    ).toBe(404);
    const bad = await app.inject({
      method: 'POST',
      url: '/v1/approvals/apr_zzzz_00000000/decision',
      headers: as('alice'),
      payload: { verdict: 'maybe' },
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().message).toContain('verdict');
    const notAnId = await app.inject({ method: 'GET', url: '/v1/approvals/..%2f..%2fetc', headers: as('operator') });
    expect(notAnId.statusCode).toBe(404);
    expect((await app.inject({ method: 'GET', url: '/v1/approvals' })).statusCode).toBe(401);
  });
});
