// Where `audit export` reads a bundle's context: the run store this deployment uses (Redis
// with REDIS_URL, else files under the home) and the embedded lab's registry.
import {
  createEvidenceExporter,
  evidenceContext,
  openAuditReader,
  verificationKeys,
  type AuditEntry,
  type AuditLog,
  type EvidenceContext,
  type EvidenceExporter,
  type RunRecord,
} from '../audit/index.js';
import type { RunStore } from '../agent/run-store.js';
import type { ModelRegistry } from '../../tools/index.js';
import type { Logger } from '../logger.js';
import { openRegistryForReading } from './backends.js';
import { openRunStore } from './stores.js';
import { systemClock } from '../clock.js';
import type { Config } from './config.js';

export async function evidenceSources(
  config: Config,
): Promise<{ context: (record: RunRecord) => Promise<EvidenceContext>; close(): Promise<void> }> {
  const runs = openRunStore(config);
  return { context: evidenceContext({ runs, registry: openRegistryForReading(config) }), close: () => runs.close() };
}

/** serve's exporter: checkpoints its own log, reads the configured store, context from its runs and registry. */
export function evidenceExporter(
  config: Config,
  agent: { runtime: { audit: AuditLog; runs: RunStore }; backends: { backends: { registry: ModelRegistry } } },
  logger: Logger,
): EvidenceExporter {
  return createEvidenceExporter({
    audit: agent.runtime.audit,
    reader: () => openAuditReader(config, logger),
    keys: verificationKeys(config),
    context: evidenceContext({ runs: agent.runtime.runs, registry: agent.backends.backends.registry }),
    clock: systemClock,
  });
}

/** The last entries of the configured audit store, for MCP's mlops://audit/tail. */
export function auditTail(config: Config, logger: Logger): (count: number) => Promise<AuditEntry[]> {
  return async (count) => {
    const reader = openAuditReader(config, logger);
    try {
      return await reader.tail({ tail: count });
    } finally {
      await reader.close();
    }
  };
}
