// The agent as `serve` runs it, for one scenario: the runtime over the lab, the local run
// queue with its journal, the incident index, and the HTTP server that takes Alertmanager
// webhooks on 127.0.0.1. MCP clients reach the real MCP server over an in-memory transport.
// `restart` drops all of it, as a killed process would, and starts it again on the same home.
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { allTools } from '../../../tools/index.js';
import type { Trigger } from '../../../src/agent/run.js';
import type { AuditEntryInput } from '../../../src/audit/index.js';
import type { LocalLab } from '../../../src/backends/local/index.js';
import type { Clock } from '../../../src/clock.js';
import {
  agentRunHandler,
  createLocalRunQueue,
  openFileIncidentIndex,
  openQueueJournal,
  type RunQueue,
} from '../../../src/intake/index.js';
import { recheckAfterMs } from '../../../src/runbooks/runbook.js';
import { silentLogger } from '../../../src/logger.js';
import { createMcpServer } from '../../../src/mcp/index.js';
import { createServer } from '../../../src/server/index.js';
import { openEvalRuntime, type EvalRuntime, type LlmChoice } from './runtime.js';

const ALERT_TOKEN = 'eval-alertmanager-token-0123456789';

export interface Service {
  current: EvalRuntime;
  queue: RunQueue;
  url: string;
  postAlert(payload: unknown): Promise<{ status: number; body: Record<string, unknown> }>;
  enqueue(trigger: Trigger): Promise<string>;
  /** Calls a tool as an MCP client named `client` would, through the real MCP server. */
  mcpCall(
    client: string,
    tool: string,
    args: Record<string, unknown>,
  ): Promise<{ isError: boolean; text: string; structured: unknown }>;
  /** The process dies: nothing is closed in order, the active run is dropped where it stands. */
  crashAndRestart(): Promise<void>;
  close(): Promise<void>;
}

export interface ServiceOptions {
  home: string;
  llm: LlmChoice;
  clock: Clock;
  onAudit: (entry: AuditEntryInput) => void;
  /** Wraps the lab's ports the runtime acts on (the crash scenarios hang a call after its effect). */
  wrapBackends?: (lab: LocalLab) => LocalLab;
}

async function start(options: ServiceOptions, wrap: boolean) {
  const journal = openQueueJournal(join(options.home, 'queue'), () => undefined);
  const queue = createLocalRunQueue({ journal, attempts: 1 });
  let current: EvalRuntime;
  try {
    current = await openEvalRuntime({
      home: options.home,
      llm: options.llm,
      clock: options.clock,
      joined: (runId, from) => queue.joined(runId, from),
      onAudit: options.onAudit,
      ...(wrap && options.wrapBackends ? { wrapBackends: options.wrapBackends } : {}),
    });
  } catch (err) {
    await queue.close({ force: true });
    throw err;
  }
  const { runtime } = current;
  const app: FastifyInstance = await createServer({
    runtime,
    queue,
    incidents: openFileIncidentIndex(join(options.home, 'incidents'), options.clock.now),
    recheckAfterMs: (alertName) => recheckAfterMs(runtime.runbooks, alertName),
    readOnlyTools: allTools.filter((t) => t.annotations.readOnly).map((t) => t.name),
    runs: runtime.runs,
    approvals: runtime.approvals,
    tokens: [{ token: ALERT_TOKEN, principal: 'alertmanager', scopes: ['alerts', 'read'] }],
    logger: silentLogger,
  });
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  queue.process(agentRunHandler(runtime.agent, runtime.runs), { concurrency: 2 });
  return { current, queue, app, url };
}

export async function startService(options: ServiceOptions): Promise<Service> {
  let parts = await start(options, true);
  const mcpClients: Client[] = [];

  const service: Service = {
    get current() {
      return parts.current;
    },
    get queue() {
      return parts.queue;
    },
    get url() {
      return parts.url;
    },
    async postAlert(payload) {
      const res = await fetch(`${parts.url}/v1/alerts/alertmanager`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${ALERT_TOKEN}` },
        body: JSON.stringify(payload),
      });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    },
    async enqueue(trigger) {
      return (await parts.queue.enqueue(trigger)).runId;
    },
    async mcpCall(clientName, tool, args) {
      const { runtime, config } = parts.current;
      const server = createMcpServer({
        gate: runtime.gate,
        tools: allTools,
        runs: runtime.runs,
        approvals: runtime.approvals,
        auditFile: config.auditFile,
        runbooks: runtime.runbooks,
        principalFor: () => ({ id: `mcp:${clientName}`, roles: [] }),
        readsAll: true,
        logger: silentLogger,
      });
      const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
      await server.connect(serverSide);
      const client = new Client({ name: clientName, version: '1' });
      mcpClients.push(client);
      await client.connect(clientSide);
      const result = (await client.callTool({ name: tool, arguments: args })) as {
        isError?: boolean;
        content?: { type: string; text?: string }[];
        structuredContent?: unknown;
      };
      await client.close();
      return {
        isError: result.isError === true,
        text: (result.content ?? []).map((c) => c.text ?? '').join('\n'),
        structured: result.structuredContent ?? null,
      };
    },
    async crashAndRestart() {
      // Whatever the dead process had in flight stays where it stood: the queue is not
      // drained, the run not settled. Its files (journal, runs, executions, audit log) are
      // what the next process finds, as after a kill -9.
      const dead = parts;
      await dead.app.close();
      await dead.queue.close({ force: true });
      await dead.current.close();
      parts = await start(options, false);
    },
    async close() {
      await Promise.allSettled(mcpClients.map((c) => c.close()));
      await parts.app.close();
      await parts.queue.close({ graceMs: 5_000 });
      await parts.current.close();
    },
  };
  return service;
}
