// The serve HTTP server with the Slack channel, wired as `serve` wires it: the real
// runtime (file approval store, real audit log, shipped default policy), in-memory
// backends, the in-process queue and worker, and Slack's own WebClient talking to a local
// fake Slack. Requests reach /v1/slack/* through Fastify's inject, signed like Slack's.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import type { ApprovalStore } from '../../../src/approvals/index.js';
import { createSlackChannel, type SlackChannel } from '../../../src/slack/index.js';
import { readAuditEntries, type AuditEntry } from '../../../src/audit/index.js';
import { loadConfig, type Config } from '../../../src/app/config.js';
import { agentRunHandler, createLocalRunQueue, type RunQueue } from '../../../src/intake/index.js';
import { silentLogger } from '../../../src/logger.js';
import { createRuntime, type Runtime } from '../../../src/app/runtime.js';
import { createServer, createServerMetrics } from '../../../src/server/index.js';
import { startFakeSlackServer, type FakeSlackServer } from '../../support/fake-slack-server.js';
import { manualClock } from '../../support/manual-clock.js';
import { memoryBackends, version, type MemoryBackends } from '../../support/memory-backends.js';
import { signed } from '../../support/slack-requests.js';

export const SIGNING_SECRET = 'slack-signing-secret-0123456789abcdef';
export const TOKEN = 'operator-token-0123456789abcdef';

/** Slack member ids and who they are. Alice and Bob are ML leads, Carol a risk officer (default policy); Dave has no role; Eve is not mapped. */
export const SLACK_USERS = { U0ALICE: 'user:alice', U0BOB: 'user:bob', U0CAROL: 'user:carol', U0DAVE: 'user:dave' };

export interface SlackFixture {
  home: string;
  config: Config;
  clock: ReturnType<typeof manualClock>;
  fake: FakeSlackServer;
  backends: MemoryBackends;
  runtime: Runtime;
  slack: SlackChannel;
  queue: RunQueue;
  app: FastifyInstance;
  audit(): Promise<AuditEntry[]>;
  /** POSTs a body to a Slack route, signed now by the fixture's clock (or with the headers given). */
  post(
    route: 'interactions' | 'events',
    body: string,
    contentType: string,
    headers?: Record<string, string>,
  ): Promise<LightMyRequestResponse>;
  /** Parks a deploy_canary call for approval, as `requester`, and waits for its Slack message. */
  park(
    requester: string,
    trafficPercent: number,
  ): Promise<{ approvalId: string; argsHash: string; channel: string; ts: string }>;
  close(): Promise<void>;
}

export interface SlackFixtureOptions {
  env?: Record<string, string>;
  /** Shared by fixtures that stand for several `serve` processes (Redis); default files under the fixture's home. */
  approvalStore?: ApprovalStore;
  /** A fake Slack shared with another fixture (not closed by this one). */
  fake?: FakeSlackServer;
}

export async function slackFixture(options: SlackFixtureOptions = {}): Promise<SlackFixture> {
  const home = await mkdtemp(join(tmpdir(), 'mlops-slack-'));
  const fake =
    options.fake ?? (await startFakeSlackServer({ channels: { '#approvals': 'C0APPROVALS', '#ml': 'C0ML' } }));
  const config = loadConfig({
    env: {
      MLOPS_AGENT_HOME: home,
      MLOPS_AGENT_LOG_LEVEL: 'silent',
      MLOPS_AGENT_LLM: 'runbook',
      MLOPS_AGENT_API_TOKEN: TOKEN,
      SLACK_BOT_TOKEN: fake.token,
      SLACK_SIGNING_SECRET: SIGNING_SECRET,
      SLACK_APPROVAL_CHANNEL: '#approvals',
      SLACK_API_URL: fake.apiUrl,
      SLACK_USERS: Object.entries(SLACK_USERS)
        .map(([id, who]) => `${id}=${who}`)
        .join(','),
      ...options.env,
    },
    cwd: home,
  });
  const clock = manualClock(Date.parse('2026-01-01T09:00:00Z'));
  const backends = memoryBackends();
  backends.versions.push(version('credit-risk', '2', 0.87));
  // Retries off: a failure the fake Slack is told to give is seen at once.
  const slack = createSlackChannel({
    slack: config.slack!,
    logger: silentLogger,
    clock,
    clientOptions: { retryConfig: { retries: 0 } },
  });
  const runtime = await createRuntime({
    config,
    logger: silentLogger,
    backends,
    clock,
    notifiers: [slack.notifier],
    ...(options.approvalStore ? { approvalStore: options.approvalStore } : {}),
  });
  slack.connect({ approvals: runtime.approvals, runs: runtime.runs, audit: runtime.audit });
  const queue = createLocalRunQueue({ attempts: 1 });
  const metrics = createServerMetrics(queue);
  queue.process(
    agentRunHandler(runtime.agent, runtime.runs, {
      onSettled: (run) => {
        metrics.settled(run);
        slack.settled(run);
      },
    }),
    { concurrency: 2 },
  );
  const app = await createServer({
    runtime,
    queue,
    runs: runtime.runs,
    tokens: config.server.tokens,
    logger: silentLogger,
    bodyLimitBytes: 64 * 1024,
    metrics,
    slack,
  });
  await app.ready();
  let calls = 0;

  return {
    home,
    config,
    clock,
    fake,
    backends,
    runtime,
    slack,
    queue,
    app,
    audit: () => readAuditEntries(config.auditFile),
    async post(route, body, contentType, headers) {
      const request = headers
        ? { headers: { 'content-type': contentType, ...headers }, payload: body }
        : signed(SIGNING_SECRET, clock.now(), body, contentType);
      return app.inject({
        method: 'POST',
        url: `/v1/slack/${route}`,
        headers: request.headers,
        payload: request.payload,
      });
    },
    async park(requester, trafficPercent) {
      const outcome = await runtime.gate.call({
        runId: null,
        callId: `call_${++calls}`,
        principal: { id: requester, roles: [] },
        tool: 'deploy_canary',
        args: { model: 'credit-risk', version: '2', environment: 'production', trafficPercent },
      });
      if (outcome.status !== 'pending_approval' || !outcome.approvalId)
        throw new Error(`expected a pending approval, got ${JSON.stringify(outcome)}`);
      const approval = (await runtime.approvals.get(outcome.approvalId))!;
      const notice = approval.notices.slack as { channel: string; ts: string } | undefined;
      if (!notice) throw new Error('the approval has no Slack message');
      return { approvalId: approval.id, argsHash: approval.argsHash, ...notice };
    },
    async close() {
      await app.close();
      await queue.close({ force: true });
      await runtime.close();
      if (!options.fake) await fake.close();
      await rm(home, { recursive: true, force: true });
    },
  };
}

/** All the text of a message's blocks, as people read it. */
export function messageText(blocks: unknown): string {
  const found: string[] = [];
  JSON.stringify(blocks, (_key, value: unknown) => {
    const v = value as { type?: unknown; text?: unknown } | null;
    if (v && typeof v === 'object' && (v.type === 'mrkdwn' || v.type === 'plain_text') && typeof v.text === 'string')
      found.push(v.text);
    return value;
  });
  return found.join('\n');
}
