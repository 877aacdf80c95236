// What the server and the worker measure, in a prom-client registry of their own: runs
// enqueued by trigger kind (and whether they coalesced), webhook latency, runs settled by
// trigger and outcome, tool calls by the gate's decision, LLM tokens by planner, and the
// queue's depth at scrape time. Tool calls and tokens are read off the audit entries the
// gate and the loop write anyway, so the gate's own path gains nothing to do.
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Run } from '../agent/run.js';
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

export function createServerMetrics(queue: Pick<RunQueue, 'depth'>): ServerMetrics {
  const registry = new Registry();
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
    help: 'Runs this process finished or parked, by trigger kind and outcome (the run status)',
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
    settled: (run) => runsSettled.inc({ trigger: run.trigger.kind, outcome: run.status }),
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
