// Where runs, approvals and execution records are kept: in Redis beside the queue when
// the config names one (shared by every process: serve, workers, the stdio MCP server),
// else in files under <home>. The one place that choice is made.
import { join } from 'node:path';
import { createRedisRunStore } from '../agent/redis-run-store.js';
import { createFileRunStore, type RunStore } from '../agent/run-store.js';
import { createFileApprovalStore, createRedisApprovalStore, type ApprovalStore } from '../approvals/index.js';
import { createFileExecutions, createRedisExecutions, type Executions } from '../gate/index.js';
import type { Logger } from '../logger.js';
import type { Config } from './config.js';

export interface Stores {
  runs: RunStore;
  approvals: ApprovalStore;
  executions: Executions;
  /** True when the stores are in Redis, shared with every process on it. */
  shared: boolean;
  close(logger: Logger): Promise<void>;
}

type StoreConfig = Pick<Config, 'home' | 'redisUrl' | 'queue'>;

/** The stores as the runtime takes them. */
export function runtimeStores(stores: Stores): {
  runs: RunStore;
  approvalStore: ApprovalStore;
  executions: Executions;
} {
  return { runs: stores.runs, approvalStore: stores.approvals, executions: stores.executions };
}

/** Runs alone, for commands that only read them (runs list, evidence export). */
export function openRunStore(config: StoreConfig): RunStore & { close(): Promise<void> } {
  if (config.redisUrl) return createRedisRunStore({ connection: config.redisUrl, prefix: config.queue.prefix });
  return Object.assign(createFileRunStore(join(config.home, 'runs')), { close: async () => undefined });
}

/** Approvals alone, for commands that only decide or list them. */
export function openApprovalStore(config: StoreConfig): ApprovalStore {
  if (config.redisUrl) return createRedisApprovalStore({ connection: config.redisUrl, prefix: config.queue.prefix });
  return createFileApprovalStore(join(config.home, 'approvals'));
}

/** Execution records alone: which calls with side effects were taken, so none runs twice. */
export function openExecutions(config: StoreConfig): Executions {
  if (config.redisUrl) return createRedisExecutions({ connection: config.redisUrl, prefix: config.queue.prefix });
  // Kept on disk: a run resumed at the next start must not repeat a call it had started.
  return createFileExecutions(join(config.home, 'executions'));
}

export function openStores(config: StoreConfig): Stores {
  const opened = {
    runs: openRunStore(config),
    approvals: openApprovalStore(config),
    executions: openExecutions(config),
  };
  return {
    ...opened,
    shared: Boolean(config.redisUrl),
    async close(logger) {
      for (const [name, store] of Object.entries(opened))
        await store.close().catch((err: unknown) => logger.warn({ err }, `closing the ${name} store failed`));
    },
  };
}
