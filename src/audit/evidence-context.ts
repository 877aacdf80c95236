// Context an evidence bundle carries beside its proof: the stored run and the registry's
// records of the model versions the run met. Typed by shape, so the audit room needs
// neither the agent nor the backends.
import { describeError } from '../errors.js';
import type { EvidenceContext } from './evidence-bundle.js';
import type { RunRecord } from './evidence-facts.js';

export interface ContextSources {
  runs?: { get(runId: string): Promise<object | undefined> };
  registry?: {
    getVersion(model: string, version: string): Promise<object | undefined>;
    aliasHistory(model: string): Promise<object[]>;
  };
}

const RUN_FIELDS = [
  'id',
  'status',
  'planner',
  'fallback',
  'steps',
  'usage',
  'answer',
  'error',
  'createdAt',
  'updatedAt',
  'endedAt',
] as const;

export function evidenceContext(sources: ContextSources): (record: RunRecord) => Promise<EvidenceContext> {
  return async (record) => {
    let run: Record<string, unknown> | null = null;
    const stored = (await sources.runs?.get(record.runId)) as Record<string, unknown> | undefined;
    if (stored) run = Object.fromEntries(RUN_FIELDS.filter((k) => k in stored).map((k) => [k, stored[k]]));
    if (!sources.registry) return { run, registry: null };
    const versions: Record<string, unknown>[] = [];
    const aliasHistory: Record<string, unknown>[] = [];
    for (const m of record.models) {
      try {
        const v = await sources.registry.getVersion(m.model, m.version);
        if (v) versions.push(v as Record<string, unknown>);
      } catch (err) {
        versions.push({ model: m.model, version: m.version, error: `registry lookup failed: ${describeError(err)}` });
      }
    }
    for (const model of new Set(record.models.map((m) => m.model))) {
      const history = await sources.registry.aliasHistory(model).catch(() => []);
      aliasHistory.push(...(history as Record<string, unknown>[]));
    }
    return { run, registry: { versions, aliasHistory } };
  };
}
