// Mitigation first: a runbook's mitigation steps (the rollback in canary-rollback) run
// through the gate before any LLM planning, and the rest of the run may not undo them.
import { callRecords } from './run-account.js';
import type { ProposedCall, TranscriptItem } from './planner.js';

/** A version a mitigation step took off traffic. */
interface Mitigated {
  callId: string;
  tool: string;
  model: string;
  environment: string;
  version: string;
}

const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);

/** What this run's executed mitigation steps took off traffic (from their outputs' `rolledBack`). */
export function mitigatedVersions(transcript: readonly TranscriptItem[]): Mitigated[] {
  const mitigationCalls = new Set(transcript.flatMap((i) => (i.kind === 'plan' && i.mitigation ? i.calls.map((c) => c.id) : [])));
  return callRecords(transcript).flatMap((record) => {
    if (!mitigationCalls.has(record.callId) || record.outcome?.status !== 'executed') return [];
    const output = record.outcome.output as { model?: unknown; environment?: unknown; rolledBack?: { version?: unknown } | null } | null;
    const model = str(output?.model);
    const environment = str(output?.environment);
    const version = str(output?.rolledBack?.version);
    return model && environment && version ? [{ callId: record.callId, tool: record.tool, model, environment, version }] : [];
  });
}

/**
 * Why `call` would undo a mitigation of this run (put the version it took off traffic back
 * on, in the same place), or null. Reads go through: looking undoes nothing.
 */
export function undoesMitigation(transcript: readonly TranscriptItem[], call: ProposedCall, readOnly: boolean): string | null {
  if (readOnly) return null;
  const args = (call.args ?? {}) as Record<string, unknown>;
  const hit = mitigatedVersions(transcript).find((m) => args.model === m.model && args.environment === m.environment && str(args.version) === m.version);
  if (!hit) return null;
  return `refused: ${call.name} would put ${hit.model} v${hit.version} back on traffic in ${hit.environment}, undoing this run's mitigation (${hit.tool}, ${hit.callId}, took it off traffic); a mitigation is not undone within the run that made it: a person decides after the investigation`;
}
