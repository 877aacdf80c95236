// What the server can measure itself, in a prom-client registry of its own: runs
// enqueued by trigger kind (and whether they coalesced), webhook latency, runs settled by
// status, and the queue's depth at scrape time.
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Run } from '../agent/run.js';
import type { RunQueue } from '../intake/index.js';

export interface ServerMetrics {
  registry: Registry;
  enqueued(kind: string, coalesced: boolean): void;
  webhookSeconds: Histogram<'receiver' | 'outcome'>;
  /** For `agentRunHandler`'s `onSettled`. */
  settled(run: Run): void;
}

export function createServerMetrics(queue: Pick<RunQueue, 'depth'>): ServerMetrics {
  const registry = new Registry();
  const runsEnqueued = new Counter({
    name: 'mlops_agent_runs_enqueued_total',
    help: 'Triggers accepted, by trigger kind and whether they joined a queued or active run',
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
    help: 'Runs the in-process worker finished or parked, by status',
    labelNames: ['status'] as const,
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
  return {
    registry,
    enqueued: (kind, coalesced) => runsEnqueued.inc({ trigger: kind, coalesced: String(coalesced) }),
    webhookSeconds,
    settled: (run) => runsSettled.inc({ status: run.status }),
  };
}
