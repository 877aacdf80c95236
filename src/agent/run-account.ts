// A run's own account of itself, read from its transcript and never from the planner's
// words: what executed, changed nothing, was refused, failed or still waits; the status
// that follows from it; and the sentences of a final answer that claim more than that.
import type { CallOutcomeForPlanner, PlannedEnd, TranscriptItem } from './planner.js';
import type { RunFlag, RunStatus, RunSummary, SummaryItem } from './run.js';

/** Refusals of the loop's own hygiene (a repeated call) say nothing about what the run did. */
const HYGIENE_RULES = new Set(['loop.max-repeated-calls', 'loop.once-per-run']);

interface CallRecord {
  callId: string;
  tool: string;
  args: unknown;
  outcome: CallOutcomeForPlanner | null;
}

/** Every proposed call with its latest outcome (an approval's or a wait's end replaces the first). */
export function callRecords(transcript: readonly TranscriptItem[]): CallRecord[] {
  const calls = new Map<string, CallRecord>();
  for (const item of transcript) {
    if (item.kind === 'plan')
      for (const c of item.calls) calls.set(c.id, { callId: c.id, tool: c.name, args: c.args, outcome: null });
    if (item.kind === 'result' || item.kind === 'approval' || item.kind === 'wait') {
      const record = calls.get(item.callId);
      if (record) record.outcome = item.outcome;
    }
  }
  return [...calls.values()];
}

const sameArgs = (a: unknown, b: unknown) => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);

function isNoop(outcome: CallOutcomeForPlanner): boolean {
  return (
    outcome.status === 'executed' &&
    typeof outcome.output === 'object' &&
    outcome.output !== null &&
    (outcome.output as { noop?: unknown }).noop === true
  );
}

/**
 * A failure the planner got past: a failed call that a later identical call executed, or
 * bad arguments (or a name that did not exist) corrected by a later call of the same tool.
 */
function superseded(record: CallRecord, later: readonly CallRecord[]): boolean {
  const o = record.outcome;
  if (!o || (o.status !== 'failed' && o.status !== 'invalid')) return false;
  return later.some(
    (l) =>
      l.tool === record.tool &&
      l.outcome?.status === 'executed' &&
      (o.status === 'invalid' || sameArgs(l.args, record.args)),
  );
}

export function summarizeTranscript(
  transcript: readonly TranscriptItem[],
  readOnly: (tool: string) => boolean,
): RunSummary {
  const summary: Omit<RunSummary, 'text'> = { executed: [], noops: [], refused: [], failed: [], pending: [] };
  const records = callRecords(transcript);
  records.forEach((record, i) => {
    const o = record.outcome;
    const item = (detail: string): SummaryItem => ({
      callId: record.callId,
      tool: record.tool,
      readOnly: readOnly(record.tool),
      detail,
    });
    if (!o) return void summary.pending.push(item('proposed; no outcome recorded'));
    if (superseded(record, records.slice(i + 1))) return;
    switch (o.status) {
      case 'executed':
        (isNoop(o) ? summary.noops : summary.executed).push(item(o.summary));
        return;
      case 'refused':
        summary.refused.push(item(`${o.ruleId ? `[${o.ruleId}] ` : ''}${o.reason}`));
        return;
      case 'invalid':
        summary.failed.push(item(o.code === 'not_found' ? `not found: ${o.error}` : o.error));
        return;
      case 'failed':
        summary.failed.push(item(o.error));
        return;
      case 'pending_approval':
        summary.pending.push(
          item(
            `waiting for approval${o.approvalId ? ` ${o.approvalId}` : ' (no approval channel took it)'}: ${o.reason}`,
          ),
        );
        return;
      case 'waiting':
        summary.pending.push(item(`under way: ${o.summary}`));
        return;
    }
  });
  return { ...summary, text: summaryText(summary) };
}

function summaryText(s: Omit<RunSummary, 'text'>): string {
  const list = (items: SummaryItem[]) => items.map((i) => `${i.tool} (${i.detail})`).join('; ');
  const parts: string[] = [];
  const effects = s.executed.filter((i) => !i.readOnly);
  const reads = s.executed.filter((i) => i.readOnly);
  parts.push(effects.length ? `Changed: ${list(effects)}.` : 'Changed nothing.');
  if (reads.length) parts.push(`Looked: ${reads.map((i) => i.tool).join(', ')}.`);
  if (s.noops.length) parts.push(`No-op: ${list(s.noops)}.`);
  if (s.refused.length) parts.push(`Refused: ${list(s.refused)}.`);
  if (s.failed.length) parts.push(`Failed: ${list(s.failed)}.`);
  if (s.pending.length) parts.push(`Pending: ${list(s.pending)}.`);
  return parts.join(' ');
}

const SEVERITY: Record<PlannedEnd, number> = { succeeded: 0, needs_attention: 1, refused: 2, failed: 3 };

/** The worse of two ends: failed over refused over needs_attention over succeeded. */
export function worse(a: PlannedEnd, b: PlannedEnd): PlannedEnd {
  return SEVERITY[b] > SEVERITY[a] ? b : a;
}

/**
 * How the run ended, from what the transcript shows: a call with effects that failed →
 * failed; a refused call → refused; a call still waiting for people no channel took →
 * needs_attention. A planner's own end (a runbook that stopped) and the mitigation's can
 * only make it worse, never better. `reason` says why it is not `succeeded`.
 */
export function endFromSummary(
  summary: RunSummary,
  ...others: (PlannedEnd | undefined)[]
): { status: Extract<RunStatus, PlannedEnd>; reason: string | null } {
  const failedEffects = summary.failed.filter((i) => !i.readOnly);
  const refusals = summary.refused.filter((i) => !HYGIENE_RULES.has(ruleOf(i)));
  let status: PlannedEnd = 'succeeded';
  let reason: string | null = null;
  if (summary.pending.length > 0) {
    status = 'needs_attention';
    reason = `waiting with nobody to ask: ${summary.pending.map((i) => `${i.tool} (${i.detail})`).join('; ')}`;
  }
  if (refusals.length > 0) {
    status = 'refused';
    reason = `refused: ${refusals.map((i) => `${i.tool} (${i.detail})`).join('; ')}`;
  }
  if (failedEffects.length > 0) {
    status = 'failed';
    reason = `failed: ${failedEffects.map((i) => `${i.tool} (${i.detail})`).join('; ')}`;
  }
  for (const other of others) if (other) status = worse(status, other);
  // A planner's end made it worse: name what the transcript shows behind it, if anything.
  if (reason === null && status === 'failed' && summary.failed.length > 0)
    reason = `failed: ${summary.failed.map((i) => `${i.tool} (${i.detail})`).join('; ')}`;
  if (reason === null && status === 'refused' && summary.refused.length > 0)
    reason = `refused: ${summary.refused.map((i) => `${i.tool} (${i.detail})`).join('; ')}`;
  return { status, reason };
}

function ruleOf(item: SummaryItem): string {
  return /^\[([^\]]+)\]/.exec(item.detail)?.[1] ?? '';
}

// The answer's claims of effects, and what in the transcript would support each.
const OWN = String.raw`(?:^|\b(?:i|we)\s+(?:have\s+|had\s+|just\s+|successfully\s+|already\s+|now\s+)*|\b(?:i've|we've)\s+(?:just\s+|successfully\s+|already\s+)*)`;
const HEDGE =
  /\b(?:not|no|never|cannot|unable|refused|denied|failed|could|would|should|will|may|might|if|whether|once|pending|waiting|awaiting|needs?|requires?|recommend\w*|suggest\w*|propos\w*|planned|plan)\b|n't\b/i;

interface ClaimRule {
  claim: RunFlag['claim'];
  pattern: RegExp;
  /** True when the transcript shows the effect. */
  shown(records: readonly CallRecord[]): boolean;
}

const executedOutputs = (records: readonly CallRecord[], tool?: string) =>
  records.flatMap((r) => (r.outcome?.status === 'executed' && (!tool || r.tool === tool) ? [r.outcome] : []));
const anyOutputSays = (records: readonly CallRecord[], word: string) =>
  executedOutputs(records).some((o) => JSON.stringify(o.output ?? null).includes(`"${word}"`));
const deployedWith = (records: readonly CallRecord[], status?: string) =>
  executedOutputs(records, 'deploy_canary').some(
    (o) => !status || (o.output as { status?: unknown } | null)?.status === status,
  );

const CLAIMS: ClaimRule[] = [
  {
    claim: 'rollback',
    pattern: new RegExp(`${OWN}(?:rolled|reverted)\\b`, 'i'),
    shown: (r) => executedOutputs(r, 'rollback').some((o) => !isNoop(o)),
  },
  // "v2 was rolled back": true when the agent did it or a tool reported it (the canary analysis did).
  {
    claim: 'rollback',
    pattern: /\b(?:was|were|has been|have been|got)\s+(?:\w+\s+)?(?:rolled back|reverted)\b/i,
    shown: (r) => executedOutputs(r, 'rollback').some((o) => !isNoop(o)) || anyOutputSays(r, 'rolled_back'),
  },
  {
    claim: 'retrain',
    pattern: new RegExp(`${OWN}(?:re-?trained|trained|started\\s+(?:a\\s+)?(?:re)?training|kicked off)\\b`, 'i'),
    shown: (r) => executedOutputs(r, 'trigger_retrain').length > 0,
  },
  {
    claim: 'canary',
    pattern: new RegExp(`${OWN}(?:deployed|canaried|shipped|released|started\\s+(?:a\\s+)?canary)\\b`, 'i'),
    shown: (r) => deployedWith(r),
  },
  { claim: 'promotion', pattern: new RegExp(`${OWN}promoted\\b`, 'i'), shown: (r) => deployedWith(r, 'promoted') },
  {
    claim: 'promotion',
    pattern: /\b(?:was|has been|is now)\s+promoted\b/i,
    shown: (r) => deployedWith(r, 'promoted') || anyOutputSays(r, 'promoted'),
  },
];

/**
 * Sentences of an answer that claim an effect (a rollback, a retrain, a canary, a
 * promotion) the transcript does not show. A heuristic on plain statements: a sentence
 * that hedges or negates ("could not roll back", "needs approval") is not a claim.
 */
export function unsupportedClaims(answer: string, transcript: readonly TranscriptItem[]): RunFlag[] {
  const records = callRecords(transcript);
  const flags: RunFlag[] = [];
  for (const raw of answer.split(/(?<=[.!?])\s+|\n+/)) {
    const sentence = raw.replace(/^[\s*•-]+/, '').trim();
    if (!sentence || HEDGE.test(sentence)) continue;
    for (const rule of CLAIMS) {
      if (!rule.pattern.test(sentence) || rule.shown(records) || flags.some((f) => f.sentence === sentence)) continue;
      flags.push({
        kind: 'unsupported_claim',
        claim: rule.claim,
        sentence,
        reason: `the answer claims a ${rule.claim}, but no executed call in this run's transcript shows one`,
      });
    }
  }
  return flags;
}
