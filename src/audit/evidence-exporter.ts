// Evidence on request from a running process (serve): checkpoint the chain first, so the
// run's entries up to now are covered, then build and check the bundle.
import type { Clock } from '../clock.js';
import {
  buildEvidenceBundle,
  verifyEvidenceBundle,
  type BundleVerification,
  type EvidenceBundle,
  type EvidenceContext,
} from './evidence-bundle.js';
import type { RunRecord } from './evidence-facts.js';
import type { AuditReader } from './reader.js';
import type { KeyRing } from './signing.js';
import type { AuditLog } from './types.js';

export interface EvidenceExporter {
  export(runId: string): Promise<{ bundle: EvidenceBundle; verification: BundleVerification }>;
}

export function createEvidenceExporter(deps: {
  audit: Pick<AuditLog, 'checkpoint'>;
  reader: () => AuditReader;
  keys: KeyRing;
  context?: (record: RunRecord) => Promise<EvidenceContext>;
  clock: Clock;
}): EvidenceExporter {
  return {
    async export(runId) {
      await deps.audit.checkpoint('requested');
      const reader = deps.reader();
      try {
        const bundle = await buildEvidenceBundle({
          reader,
          runId,
          keys: deps.keys,
          now: new Date(deps.clock.now()),
          ...(deps.context ? { context: deps.context } : {}),
        });
        return { bundle, verification: verifyEvidenceBundle(bundle, deps.keys) };
      } finally {
        await reader.close();
      }
    },
  };
}
