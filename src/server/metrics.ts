// What the server and the worker measure, in a prom-client registry of their own: runs
// enqueued by trigger kind (and whether they coalesced), webhook latency, runs settled by
// trigger and outcome, tool calls by the gate's decision, LLM tokens by planner, and the
// queue's depth at scrape time. Tool calls and tokens are read off the audit entries the
// gate and the loop write anyway, so the gate's own path gains nothing to do.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { FastifyInstance } from 'fastify';
import { isParked, type Run, type RunStatus, type TriggerKind } from '../agent/run.js';
import { packageRoot } from '../paths.js';
import type { AuditEntryInput } from '../audit/index.js';
import type { RunQueue } from '../intake/index.js';
import type { CircuitReport } from '../planners/index.js';

export interface ServerMetrics {
  registry: Registry;
  enqueued(kind: string, coalesced: boolean): void;
  webhookSeconds: Histogram<'receiver' | 'outcome'>;
  /** For `agentRunHandler`'s `onSettled`. */
  settled(run: Run): void;
  /** For the runtime's `onAudit`: every durable audit entry. */
  audited(entry: AuditEntryInput): void;
  /** Where the planners' circuit breakers are read from (the runtime's `circuits`). */
  observeCircuits(read: () => CircuitReport[]): void;
  /** The breakers as they stand, for /readyz. */
  circuits(): CircuitReport[];
  /** How an alert notice was taken: a new run, joined to one, a duplicate, or a resolution. */
  notice(receiver: string, incident: 'new' | 'coalesced' | 'joined' | 'duplicate' | 'resolved'): void;
  /** One HTTP request answered (see registerHttpMetrics). */
  http(method: string, route: string, status: number, seconds: number): void;
  /** One audit append made durable, and how long it took. */
  auditAppended(seconds: number): void;
  /** Where the number of pending approvals is read from at scrape time. */
  observeApprovals(count: () => Promise<number>): void;
}

const TRIGGERS: TriggerKind[] = ['alert', 'schedule', 'chat', 'mcp'];
const FINAL: RunStatus[] = ['succeeded', 'failed', 'refused', 'needs_attention'];
const DECISIONS = ['allow', 'deny', 'require_approval', 'invalid', 'not_found', 'repeated', 'undoes_mitigation'];
const NOTICES = ['new', 'coalesced', 'joined', 'duplicate', 'resolved'] as const;
/** Parked runs remembered so each is counted once; past this many the oldest are forgotten. */
const PARKED_KEPT = 10_000;

export interface ServerMetricsOptions {
  /** Tool names whose call counters start at 0 for every decision. */
  tools?: readonly string[];
  /** This process executes runs: its settled and parked counters start at 0. */
  executesRuns?: boolean;
}

/** Counts every request by method, route pattern and status, and times it. */
export function registerHttpMetrics(app: FastifyInstance, metrics: Pick<ServerMetrics, 'http'>): void {
  app.addHook('onResponse', async (request, reply) => {
    metrics.http(request.method, request.routeOptions.url ?? 'unmatched', reply.statusCode, reply.elapsedTime / 1000);
  });
}

function packageVersion(): string {
  try {
    return String(
      (JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { version?: unknown }).version ??
        'unknown',
    );
  } catch {
    return 'unknown';
  }
}

/** The decision a tool-call audit entry records, or null for entries of other kinds. */
export function decisionOf(entry: AuditEntryInput): { tool: string; decision: string } | null {
  const tool = typeof entry.data.tool === 'string' ? entry.data.tool : 'unknown';
  switch (entry.kind) {
    case 'policy.decision': {
      const effect = (entry.data.decision as { effect?: unknown } | undefined)?.effect;
      return { tool, decision: typeof effect === 'string' ? effect : 'unknown' };
    }
    // Refused before the policy was asked: bad arguments or an unknown tool.
    case 'call.invalid':
      return { tool, decision: 'invalid' };
    // Refused by the loop: the same call with the same arguments too often.
    case 'call.repeated':
      return { tool, decision: 'repeated' };
    // Named a model, version, dataset or served model that does not exist.
    case 'call.not_found':
      return { tool, decision: 'not_found' };
    // Refused by the loop: it would undo a mitigation this run made.
    case 'call.undoes_mitigation':
      return { tool, decision: 'undoes_mitigation' };
    default:
      return null;
  }
}

export function createServerMetrics(queue: Pick<RunQueue, 'depth'>, options: ServerMetricsOptions = {}): ServerMetrics {
  const registry = new Registry();
  // CPU, memory, event loop lag, file descriptors, GC: the process's own health.
  collectDefaultMetrics({ register: registry });
  new Gauge({
    name: 'mlops_agent_build_info',
    help: 'Always 1; the labels say which build runs',
    labelNames: ['version', 'node'] as const,
    registers: [registry],
  }).set({ version: packageVersion(), node: process.version }, 1);
  const httpRequests = new Counter({
    name: 'mlops_agent_http_requests_total',
    help: 'HTTP requests answered, by method, route pattern and status',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [registry],
  });
  const httpSeconds = new Histogram({
    name: 'mlops_agent_http_request_duration_seconds',
    help: 'Time to answer an HTTP request, by method and route pattern',
    labelNames: ['method', 'route'] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const auditSeconds = new Histogram({
    name: 'mlops_agent_audit_append_seconds',
    help: 'Time to make one audit entry durable (fsync or commit)',
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
    registers: [registry],
  });
  let countPending: () => Promise<number> = async () => 0;
  new Gauge({
    name: 'mlops_agent_approvals_pending',
    help: 'Approval requests waiting for a decision',
    registers: [registry],
    async collect() {
      try {
        this.set(await countPending());
      } catch {
        // An unreadable store shows in /readyz; a scrape still answers.
      }
    },
  });
  const notices = new Counter({
    name: 'mlops_agent_alert_notices_total',
    help: "Alert notices by receiver and what became of them: new (started a run), coalesced (a new alert joined a queued or active run), joined (a repeat joined its incident's run), duplicate, resolved",
    labelNames: ['receiver', 'incident'] as const,
    registers: [registry],
  });
  const runsParked = new Counter({
    name: 'mlops_agent_runs_parked_total',
    help: 'Runs that parked (waiting for a long call or an approval), each counted once, by trigger kind',
    labelNames: ['trigger'] as const,
    registers: [registry],
  });
  const parked = new Set<string>();
  const runsEnqueued = new Counter({
    name: 'mlops_agent_runs_enqueued_total',
    help: 'Triggers accepted, by trigger kind and whether they joined a queued, active or parked run',
    labelNames: ['trigger', 'coalesced'] as const,
    registers: [registry],
  });
  const webhookSeconds = new Histogram({
    name: 'mlops_agent_webhook_duration_seconds',
    help: 'Time from a webhook request to its answer (validation and enqueue)',
    labelNames: ['receiver', 'outcome'] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  const runsSettled = new Counter({
    name: 'mlops_agent_runs_settled_total',
    help: 'Runs this process finished, by trigger kind and outcome (the final run status); parked runs are in mlops_agent_runs_parked_total',
    labelNames: ['trigger', 'outcome'] as const,
    registers: [registry],
  });
  const toolCalls = new Counter({
    name: 'mlops_agent_tool_calls_total',
    help: 'Tool calls by tool and decision: allow, deny, require_approval (the policy), invalid (bad arguments), not_found (names nothing that exists), repeated and undoes_mitigation (refused by the loop)',
    labelNames: ['tool', 'decision'] as const,
    registers: [registry],
  });
  const llmTokens = new Counter({
    name: 'mlops_agent_llm_tokens_total',
    help: 'LLM tokens used by planner turns, by planner and direction (input, output)',
    labelNames: ['planner', 'direction'] as const,
    registers: [registry],
  });
  new Gauge({
    name: 'mlops_agent_queue_depth',
    help: 'Runs waiting or active in the run queue',
    registers: [registry],
    async collect() {
      try {
        this.set(await queue.depth());
      } catch {
        // An unreachable queue shows in /readyz; a scrape still answers.
      }
    },
  });

  let readCircuits: () => CircuitReport[] = () => [];
  new Gauge({
    name: 'mlops_agent_planner_circuit_open',
    help: "1 while the planner's circuit breaker is open (alert runs go straight to their runbook), else 0",
    labelNames: ['planner'] as const,
    registers: [registry],
    collect() {
      for (const c of readCircuits()) this.set({ planner: c.planner }, c.state === 'closed' ? 0 : 1);
    },
  });
  new Gauge({
    name: 'mlops_agent_planner_short_circuited_turns',
    help: 'Planner turns refused at once by an open circuit breaker since the process started',
    labelNames: ['planner'] as const,
    registers: [registry],
    collect() {
      for (const c of readCircuits()) this.set({ planner: c.planner }, c.shortCircuited);
    },
  });

  // Counters start at 0 for the labels they are known to take, so rates and ratios read 0, not nothing.
  for (const trigger of TRIGGERS)
    for (const coalesced of ['false', 'true']) runsEnqueued.inc({ trigger, coalesced }, 0);
  for (const receiver of ['alertmanager', 'generic'])
    for (const incident of NOTICES) notices.inc({ receiver, incident }, 0);
  for (const tool of options.tools ?? []) for (const decision of DECISIONS) toolCalls.inc({ tool, decision }, 0);
  if (options.executesRuns) {
    for (const trigger of TRIGGERS) {
      runsParked.inc({ trigger }, 0);
      for (const outcome of FINAL) runsSettled.inc({ trigger, outcome }, 0);
    }
  }

  function settled(run: Run): void {
    if (isParked(run.status)) {
      // A run parks and resumes many times (each training wait, each canary step): once is what counts.
      if (parked.has(run.id)) return;
      if (parked.size >= PARKED_KEPT) parked.delete(parked.values().next().value!);
      parked.add(run.id);
      runsParked.inc({ trigger: run.trigger.kind });
      return;
    }
    parked.delete(run.id);
    runsSettled.inc({ trigger: run.trigger.kind, outcome: run.status });
  }

  function tokens(entry: AuditEntryInput): void {
    const usage = entry.data.usage as { input?: unknown; output?: unknown } | undefined;
    const planner = typeof entry.data.planner === 'string' ? entry.data.planner : 'unknown';
    for (const direction of ['input', 'output'] as const) {
      const n = usage?.[direction];
      if (typeof n === 'number' && n > 0) llmTokens.inc({ planner, direction }, n);
    }
  }

  return {
    registry,
    enqueued: (kind, coalesced) => runsEnqueued.inc({ trigger: kind, coalesced: String(coalesced) }),
    webhookSeconds,
    settled,
    notice: (receiver, incident) => notices.inc({ receiver, incident }),
    http(method, route, status, seconds) {
      httpRequests.inc({ method, route, status: String(status) });
      httpSeconds.observe({ method, route }, seconds);
    },
    auditAppended: (seconds) => auditSeconds.observe(seconds),
    observeApprovals(count) {
      countPending = count;
    },
    observeCircuits(read) {
      readCircuits = read;
    },
    circuits: () => readCircuits(),
    audited(entry) {
      if (entry.kind === 'planner.turn') return tokens(entry);
      const call = decisionOf(entry);
      if (call) toolCalls.inc(call);
    },
  };
}
