// The whole HTTP surface of `serve`, wired as serve wires it, for the fuzz suites: the
// real runtime (audit log, file approval store, shipped policy) over memory backends, the
// in-process queue (no worker, so every run, approval and audit entry comes from the
// request under test), the Slack routes on a local fake Slack, and /mcp on a real socket.
// Counters say what each request changed.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { allTools } from '../../tools/index.js';
import { SCOPES, type ApiToken } from '../../src/api-tokens.js';
import { createSlackChannel } from '../../src/slack/index.js';
import { loadConfig } from '../../src/app/config.js';
import { createLocalRunQueue, type RunQueue } from '../../src/intake/index.js';
import { silentLogger } from '../../src/logger.js';
import { createMcpHttpHandler, createMcpServer, type McpHttpHandler } from '../../src/mcp/index.js';
import { createRuntime, type Runtime } from '../../src/app/runtime.js';
import { createServer } from '../../src/server/index.js';
import { startFakeSlackServer, type FakeSlackServer } from '../support/fake-slack-server.js';
import { memoryBackends, version } from '../support/memory-backends.js';

export const SIGNING_SECRET = 'fuzz-signing-secret-0123456789abcdef';

/** One token per kind of caller. */
export const TOKENS: Record<string, ApiToken> = {
  operator: { token: 'fuzz-operator-token-0123456789', principal: 'user:operator', scopes: [...SCOPES] },
  monitor: { token: 'fuzz-monitor-token-0123456789', principal: 'svc:monitor', scopes: ['alerts'] },
  reader: { token: 'fuzz-reader-token-0123456789', principal: 'user:reader', scopes: ['read'] },
  alice: { token: 'fuzz-alice-token-0123456789abc', principal: 'user:alice', scopes: ['read', 'approve'] },
  assistant: { token: 'fuzz-assistant-token-012345678', principal: 'user:bob', scopes: ['mcp'] },
};

/** Fuzz budgets: small and fixed in `npm test`, larger with `npm run fuzz`. */
export function fuzzBudget(defaultRuns: number): { numRuns: number; seed: number } {
  const runs = Number(process.env.MLOPS_FUZZ_RUNS || 'NaN');
  const seed = Number(process.env.MLOPS_FUZZ_SEED || 'NaN');
  return {
    numRuns: Number.isInteger(runs) && runs > 0 ? runs : defaultRuns,
    seed: Number.isInteger(seed) ? seed : 142_026,
  };
}

export interface Changes {
  enqueued: number;
  joined: number;
  approvals: number;
  auditSeq: number;
}

export interface FuzzFixture {
  app: FastifyInstance;
  runtime: Runtime;
  mcp: McpHttpHandler;
  /** http://127.0.0.1:<port> of the same server on a real socket (for /mcp sessions). */
  base: string;
  fake: FakeSlackServer;
  /** What has been done so far; compare two snapshots to see what a request changed. */
  snapshot(): Promise<Changes>;
  close(): Promise<void>;
}

export async function fuzzFixture(): Promise<FuzzFixture> {
  const home = await mkdtemp(join(tmpdir(), 'mlops-fuzz-'));
  const fake = await startFakeSlackServer({ channels: { '#approvals': 'C0APPROVALS' } });
  const config = loadConfig({
    env: {
      MLOPS_AGENT_HOME: home,
      MLOPS_AGENT_LOG_LEVEL: 'silent',
      MLOPS_AGENT_LLM: 'runbook',
      SLACK_BOT_TOKEN: fake.token,
      SLACK_SIGNING_SECRET: SIGNING_SECRET,
      SLACK_APPROVAL_CHANNEL: '#approvals',
      SLACK_API_URL: fake.apiUrl,
      SLACK_USERS: 'U0ALICE=user:alice,U0BOB=user:bob',
    },
    cwd: home,
  });
  config.server.tokens = Object.values(TOKENS).map((t) => ({ ...t, scopes: [...t.scopes] }));
  const backends = memoryBackends();
  backends.versions.push(version('credit-risk', '2', 0.88));
  const slack = createSlackChannel({
    slack: config.slack!,
    logger: silentLogger,
    clientOptions: { retryConfig: { retries: 0 } },
  });
  const runtime = await createRuntime({ config, logger: silentLogger, backends, notifiers: [slack.notifier] });
  slack.connect({ approvals: runtime.approvals, runs: runtime.runs, audit: runtime.audit });

  const counts = { enqueued: 0, joined: 0 };
  const inner = createLocalRunQueue({ attempts: 1 });
  const queue: RunQueue = {
    ...inner,
    enqueue: async (trigger, options) => {
      const result = await inner.enqueue(trigger, options);
      if (!result.coalesced) counts.enqueued++;
      return result;
    },
    join: async (trigger, key) => {
      const runId = await inner.join(trigger, key);
      if (runId) counts.joined++;
      return runId;
    },
  };
  const mcp = createMcpHttpHandler({
    tokens: config.server.tokens,
    sessionsPerPrincipal: 10,
    idleTimeoutMs: 60_000,
    maxBodyBytes: 64 * 1024,
    createServer: (principal, caller) =>
      createMcpServer({
        gate: runtime.gate,
        tools: allTools,
        runs: runtime.runs,
        approvals: runtime.approvals,
        auditFile: config.auditFile,
        runbooks: runtime.runbooks,
        principalFor: () => principal,
        readsAll: caller.scopes.has('read'),
        logger: silentLogger,
      }),
    logger: silentLogger,
  });
  const app = await createServer({
    runtime,
    queue,
    runs: runtime.runs,
    approvals: runtime.approvals,
    tokens: config.server.tokens,
    logger: silentLogger,
    bodyLimitBytes: 64 * 1024,
    mcp,
    slack,
  });
  const base = await app.listen({ port: 0, host: '127.0.0.1' });

  return {
    app,
    runtime,
    mcp,
    base,
    fake,
    async snapshot() {
      // Background work a request started (a Slack note) has finished before anything is counted.
      await slack.idle();
      return { ...counts, approvals: (await runtime.approvals.list()).length, auditSeq: runtime.audit.lastSeq() };
    },
    async close() {
      await app.close();
      await mcp.close();
      await queue.close({ force: true });
      await runtime.close();
      await fake.close();
      await rm(home, { recursive: true, force: true });
    },
  };
}
