// One run's evidence as a single self-contained file: the run's record (read from its
// entries), the chain proof (every stored entry from the run's first to a signed
// checkpoint, exactly as stored), and context read at export time (the run store, the
// registry) that the proof does not cover. `verifyEvidenceBundle` checks it offline with
// the public key alone.
import { UserError } from '../errors.js';
import { canonicalJson } from './canonical.js';
import { checkLine } from './chain-check.js';
import { describeCheckpoint, parseCheckpoint } from './checkpoint-record.js';
import { runRecord, type RunRecord } from './evidence-facts.js';
import type { AuditReader } from './reader.js';
import { checkSignature, type KeyRing } from './signing.js';
import type { AuditEntry, AuditStoreKind, Checkpoint } from './types.js';

export const EVIDENCE_SCHEMA_VERSION = 1;

/** How `record` is derived from the entries; bump when runRecord's output changes. */
export const RECORD_VERSION = 1;

/** Read at export time from elsewhere; not covered by the proof. */
export interface EvidenceContext {
  /** The stored run (status, planner, times), when the run store had it. */
  run: Record<string, unknown> | null;
  /** Registry records of the model versions the run met, and their alias history. */
  registry: { versions: Record<string, unknown>[]; aliasHistory: Record<string, unknown>[] } | null;
}

export interface EvidenceBundle {
  schemaVersion: typeof EVIDENCE_SCHEMA_VERSION;
  kind: 'mlops-agent.evidence';
  runId: string;
  exportedAt: string;
  source: { store: AuditStoreKind; location: string };
  /** The run as its entries tell it, for readers of the JSON; verify and the report derive it again from `proof.lines`. */
  record: RunRecord;
  recordVersion: number;
  proof: {
    firstSeq: number;
    lastSeq: number;
    /** Every entry from `firstSeq` to `lastSeq` (other runs' too: the chain needs them), exactly as stored. */
    lines: string[];
    /** The signed checkpoint at `lastSeq`; null when none covered the run's last entry yet. */
    checkpoint: Checkpoint | null;
  };
  context: EvidenceContext & { note: string };
}

const CONTEXT_NOTE =
  'context was read from the run store and the model registry when the bundle was exported; the chain proof does not cover it';

/** The first signed checkpoint at or after `seq` (one the keys verify, if any does). */
function coveringCheckpoint(checkpoints: readonly Checkpoint[], seq: number, keys: KeyRing): Checkpoint | null {
  const candidates = checkpoints.filter((c) => c.signature !== null && c.seq >= seq).sort((a, b) => a.seq - b.seq);
  return (
    candidates.find((c) => checkSignature(c, keys) === 'valid') ??
    candidates.find((c) => checkSignature(c, keys) !== 'invalid') ??
    null
  );
}

function statedPrevHash(text: string): string {
  try {
    const prev = (JSON.parse(text) as { prevHash?: unknown }).prevHash;
    return typeof prev === 'string' ? prev : '';
  } catch {
    return '';
  }
}

/** Checks a run of stored lines as one piece of the chain; returns its entries or the first problem. */
function checkSegment(lines: readonly string[], firstSeq: number): { entries: AuditEntry[] } | { problem: string } {
  const entries: AuditEntry[] = [];
  let prevHash: string | null = null;
  for (let i = 0; i < lines.length; i++) {
    const text = lines[i]!;
    // The segment starts mid-chain: take its first prevHash as given, and check every link after.
    const verdict = checkLine(text, true, firstSeq + i, prevHash ?? statedPrevHash(text));
    if (!('entry' in verdict)) return { problem: `entry ${firstSeq + i}: ${verdict.problem}` };
    entries.push(verdict.entry);
    prevHash = verdict.entry.hash;
  }
  return { entries };
}

export async function buildEvidenceBundle(options: {
  reader: AuditReader;
  runId: string;
  keys: KeyRing;
  now: Date;
  context?: (record: RunRecord) => Promise<EvidenceContext>;
}): Promise<EvidenceBundle> {
  const { reader, runId, keys } = options;
  const range = await reader.runRange(runId);
  if (!range)
    throw new UserError(`no audit entries for run ${runId} in ${reader.location}; see mlops-agent runs list`, {
      code: 'not_found',
    });
  const { checkpoints } = await reader.checkpoints();
  const checkpoint = coveringCheckpoint(checkpoints, range.last, keys);
  const lastSeq = checkpoint?.seq ?? range.last;
  const lines = await reader.lines(range.first, lastSeq);
  const segment =
    lines.length === lastSeq - range.first + 1
      ? checkSegment(lines, range.first)
      : { problem: `entries ${range.first} to ${lastSeq} are not all there (${lines.length} read)` };
  if ('problem' in segment) {
    throw new UserError(
      `the audit chain in ${reader.location} does not hold together around run ${runId} (${segment.problem}); run \`mlops-agent audit verify\``,
      { code: 'audit_corrupt' },
    );
  }
  if (checkpoint && segment.entries.at(-1)?.hash !== checkpoint.hash) {
    throw new UserError(
      `the audit chain in ${reader.location} contradicts ${describeCheckpoint(checkpoint)}; run \`mlops-agent audit verify\``,
      { code: 'audit_corrupt' },
    );
  }
  const record = runRecord(runId, segment.entries);
  const context = options.context ? await options.context(record) : { run: null, registry: null };
  return {
    schemaVersion: EVIDENCE_SCHEMA_VERSION,
    kind: 'mlops-agent.evidence',
    runId,
    exportedAt: options.now.toISOString(),
    source: { store: reader.store, location: reader.location },
    record,
    recordVersion: RECORD_VERSION,
    proof: { firstSeq: range.first, lastSeq, lines, checkpoint },
    context: { ...context, note: CONTEXT_NOTE },
  };
}

export interface BundleVerification {
  /** The run's record derived from the proof's own entries (what the report shows); null when they do not hold. */
  record: RunRecord | null;
  /** `proven`: every entry in the proof is as a checkpoint signed by a given key says; `not_covered`: consistent but no such checkpoint; `broken`: something does not hold. */
  status: 'proven' | 'not_covered' | 'broken';
  runId: string | null;
  /** The run's own entries in the proof. */
  runEntries: number;
  segment: { from: number; to: number } | null;
  checkpoint: Checkpoint | null;
  problems: string[];
  notes: string[];
}

function parseBundle(value: unknown): { bundle: EvidenceBundle } | { problem: string } {
  const b = value as Partial<EvidenceBundle> | null;
  if (typeof b !== 'object' || b === null || b.kind !== 'mlops-agent.evidence')
    return { problem: 'not an mlops-agent evidence bundle (kind is not "mlops-agent.evidence")' };
  if (b.schemaVersion !== EVIDENCE_SCHEMA_VERSION)
    return {
      problem: `unsupported bundle schemaVersion ${JSON.stringify(b.schemaVersion)}; this build reads version ${EVIDENCE_SCHEMA_VERSION}`,
    };
  const proof = b.proof as EvidenceBundle['proof'] | undefined;
  if (
    typeof b.runId !== 'string' ||
    !proof ||
    !Array.isArray(proof.lines) ||
    !proof.lines.every((l) => typeof l === 'string') ||
    !Number.isSafeInteger(proof.firstSeq) ||
    !Number.isSafeInteger(proof.lastSeq)
  ) {
    return { problem: 'the bundle lacks runId or a proof with firstSeq, lastSeq and lines' };
  }
  return { bundle: b as EvidenceBundle };
}

/** Checks a bundle on its own: the chain segment, the checkpoint's signature and seq, and that the record is what the entries say. */
export function verifyEvidenceBundle(value: unknown, keys: KeyRing): BundleVerification {
  const parsed = parseBundle(value);
  if ('problem' in parsed)
    return {
      status: 'broken',
      record: null,
      runId: null,
      runEntries: 0,
      segment: null,
      checkpoint: null,
      problems: [parsed.problem],
      notes: [],
    };
  const { bundle } = parsed;
  const { proof } = bundle;
  const problems: string[] = [];
  const notes: string[] = [];
  let record: RunRecord | null = null;
  const result = (status: BundleVerification['status'], runEntries: number): BundleVerification => ({
    status,
    record,
    runId: bundle.runId,
    runEntries,
    segment: { from: proof.firstSeq, to: proof.lastSeq },
    checkpoint: proof.checkpoint,
    problems,
    notes,
  });
  if (proof.lines.length !== proof.lastSeq - proof.firstSeq + 1)
    problems.push(
      `the proof holds ${proof.lines.length} entries, but says it runs from seq ${proof.firstSeq} to ${proof.lastSeq}`,
    );
  const segment = checkSegment(proof.lines, proof.firstSeq);
  if ('problem' in segment) {
    problems.push(`the chain segment does not hold: ${segment.problem}`);
    return result('broken', 0);
  }
  const own = segment.entries.filter((e) => e.runId === bundle.runId);
  if (own[0]?.seq !== proof.firstSeq)
    problems.push(`the proof does not start at the run's first entry (seq ${proof.firstSeq} belongs to another run)`);
  if (own[0] && own[0].kind !== 'run.started')
    notes.push(`the run's first entry is ${own[0].kind}, not run.started: it was recorded from a later step`);
  record = runRecord(bundle.runId, segment.entries);
  if (bundle.recordVersion !== RECORD_VERSION)
    notes.push(
      `the bundle's record was derived by another release (version ${String(bundle.recordVersion)}); what is shown is derived again from its entries`,
    );
  else if (canonicalJson(record) !== canonicalJson(bundle.record))
    problems.push('the record in the bundle differs from what its entries say: it was edited after export');
  if (!own.some((e) => e.kind === 'run.finished')) notes.push('the run had not finished when the bundle was exported');
  let covered = false;
  if (proof.checkpoint === null) {
    notes.push(
      `no signed checkpoint covered the run's last entry when the bundle was exported: the entries chain together but are not proven; export again after the next checkpoint`,
    );
  } else {
    const checked = parseCheckpoint(JSON.stringify(proof.checkpoint));
    if ('problem' in checked) problems.push(`the checkpoint is ${checked.problem}`);
    else {
      const cp = checked.checkpoint;
      const signature = checkSignature(cp, keys);
      if (signature === 'invalid')
        problems.push(`the checkpoint's signature does not verify with the public key: it was edited or forged`);
      else if (cp.seq !== proof.lastSeq || cp.hash !== segment.entries.at(-1)?.hash)
        problems.push(
          `the checkpoint (seq ${cp.seq}, hash ${cp.hash}) does not match the proof's last entry (seq ${proof.lastSeq}): the entries were changed`,
        );
      else if (signature === 'unknown_key')
        notes.push(
          `the checkpoint is signed by key ${cp.keyId}, which was not given: pass its public key with --public-key`,
        );
      else if (signature === 'unsigned') notes.push('the checkpoint is unsigned: it proves nothing');
      else covered = true;
    }
  }
  if (problems.length > 0) return result('broken', own.length);
  return result(covered ? 'proven' : 'not_covered', own.length);
}

export function formatBundleVerification(v: BundleVerification, file: string): string[] {
  const out: string[] = [];
  if (v.status === 'proven') {
    out.push(
      `evidence bundle verified: run ${v.runId}, ${v.runEntries} of its entries in seq ${v.segment!.from} to ${v.segment!.to}, proven by ${describeCheckpoint(v.checkpoint!)}`.replace(
        'the last checkpoint',
        'the checkpoint',
      ),
    );
  } else if (v.status === 'not_covered') {
    out.push(
      `evidence bundle NOT PROVEN: run ${v.runId ?? '?'} (${file}); its entries chain together, but no signed checkpoint that verifies covers them`,
    );
  } else {
    out.push(`evidence bundle BROKEN: ${file}`);
  }
  for (const p of v.problems) out.push(`  problem: ${p}`);
  for (const n of v.notes) out.push(`  note: ${n}`);
  return out;
}
