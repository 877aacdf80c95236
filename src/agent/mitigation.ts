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

/**
 * What this run's executed mitigation steps took off traffic (their outputs' `rolledBack`),
 * and the version the alert names (`labels.version`, a canary's) where a mitigation step
 * executed for its model and environment: a no-op because the canary analysis had already
 * rolled it back protects it all the same.
 */
export function mitigatedVersions(transcript: readonly TranscriptItem[]): Mitigated[] {
  const mitigationCalls = new Set(
    transcript.flatMap((i) => (i.kind === 'plan' && i.mitigation ? i.calls.map((c) => c.id) : [])),
  );
  const trigger = transcript.find((i) => i.kind === 'trigger');
  const labels =
    (trigger?.kind === 'trigger' ? (trigger.data as { labels?: Record<string, unknown> } | null)?.labels : undefined) ??
    {};
  return callRecords(transcript).flatMap((record) => {
    if (!mitigationCalls.has(record.callId) || record.outcome?.status !== 'executed') return [];
    const output = record.outcome.output as {
      model?: unknown;
      environment?: unknown;
      rolledBack?: { version?: unknown } | null;
    } | null;
    const model = str(output?.model);
    const environment = str(output?.environment);
    if (!model || !environment) return [];
    const versions = new Set([
      str(output?.rolledBack?.version),
      labels.model === model && labels.environment === environment ? str(labels.version) : null,
    ]);
    return [...versions].flatMap((version) =>
      version ? [{ callId: record.callId, tool: record.tool, model, environment, version }] : [],
    );
  });
}

/**
 * Why `call` would undo a mitigation of this run (put the version it took off traffic back
 * on, in the same place), or null. Reads go through: looking undoes nothing.
 */
export function undoesMitigation(
  transcript: readonly TranscriptItem[],
  call: ProposedCall,
  readOnly: boolean,
): string | null {
  if (readOnly) return null;
  const args = (call.args ?? {}) as Record<string, unknown>;
  const hit = mitigatedVersions(transcript).find(
    (m) => args.model === m.model && args.environment === m.environment && str(args.version) === m.version,
  );
  if (!hit) return null;
  return `refused: ${call.name} would put ${hit.model} v${hit.version} back on traffic in ${hit.environment}, undoing this run's mitigation (${hit.tool}, ${hit.callId}, took it off traffic or found it off already); a mitigation is not undone within the run that made it: a person decides after the investigation`;
}
