// Verifies a chain together with its checkpoints, whatever store holds it: every entry's
// hash and link, then every checkpoint against the entry it names. What the result proves:
// entries up to the last signed checkpoint that holds are as they were when it was signed;
// entries after it chain together, but removing or replacing them would go unnoticed.
import { checkLine } from './chain-check.js';
import { describeCheckpoint } from './checkpoint-record.js';
import { checkSignature, type KeyRing } from './signing.js';
import { GENESIS_HASH, type AuditEntry, type AuditStoreKind, type Checkpoint, type VerifyResult } from './types.js';

/** One stored line: a file's line, or a table row's text. */
export interface StoredLine {
  text: string;
  terminated: boolean;
  /** 1-based line (file) or row (table) number. */
  number: number;
}

/** Calls `onLine` for each stored line in chain order until it returns false. */
export type StoredLineScan = (onLine: (line: StoredLine) => boolean) => Promise<void>;

export type CheckpointVerdict =
  /** The entry at its seq has its hash, and its signature verifies. */
  | 'holds'
  /** Agrees with the chain but carries no signature: it proves nothing. */
  | 'unsigned'
  /** Agrees with the chain, signed by a key not given to verify: it proves nothing here. */
  | 'unknown_key'
  /** The signature does not verify: the checkpoint was edited or forged. */
  | 'bad_signature'
  /** The chain ends before its seq: entries were removed. */
  | 'truncated'
  /** The entry at its seq has another hash: the chain was rewritten. */
  | 'rewritten'
  /** Entries were appended after it closed a file log and before the next start. */
  | 'appended_after_shutdown'
  /** The chain breaks before its seq, so it could not be checked. */
  | 'beyond_break';

export interface CheckpointFinding {
  /** Place in the list as stored (0-based). */
  index: number;
  checkpoint: Checkpoint;
  verdict: CheckpointVerdict;
  /** For operators: what the verdict means here. */
  detail: string;
}

export interface AuditVerifyReport {
  /** Where the chain was read (a path, or database and schema). */
  location: string;
  store: AuditStoreKind;
  chain: VerifyResult;
  checkpoints: CheckpointFinding[];
  /** Records in the checkpoint store that are not checkpoints at all. */
  unreadableCheckpoints: { line: number; problem: string }[];
  /** Seq of the last entry a signed, holding checkpoint covers (0: none). */
  provenThrough: number;
  /** The checkpoint that proves them, if any. */
  provenBy: CheckpointFinding | null;
  /** Entries after `provenThrough`: chained, not proven. Null when none. */
  notCovered: { from: number; to: number } | null;
  /** File logs: entries written before a crash that the next start's checkpoint covered as it found them. */
  adoptedAfterCrash: { from: number; to: number; by: CheckpointFinding }[];
  /** True when the chain is intact and no checkpoint is contradicted. */
  ok: boolean;
}

const CONTRADICTIONS: ReadonlySet<CheckpointVerdict> = new Set([
  'bad_signature',
  'truncated',
  'rewritten',
  'appended_after_shutdown',
]);

export function isContradiction(verdict: CheckpointVerdict): boolean {
  return CONTRADICTIONS.has(verdict);
}

/** Checks a whole chain, noting the hash at every `wanted` seq (the checkpoints'). */
export type ChainWalk = (wanted: ReadonlySet<number>) => Promise<{ chain: VerifyResult; hashes: Map<number, string> }>;

/** Walks the chain once, noting the hash at every seq a checkpoint names. */
export async function walk(
  scan: StoredLineScan,
  wanted: ReadonlySet<number>,
  onEntry?: (entry: AuditEntry) => void,
): Promise<{ chain: VerifyResult; hashes: Map<number, string> }> {
  const hashes = new Map<number, string>();
  let entries = 0;
  let lastHash = GENESIS_HASH;
  let broken: VerifyResult | null = null;
  await scan((line) => {
    const verdict = checkLine(line.text, line.terminated, entries + 1, lastHash);
    if ('entry' in verdict) {
      entries++;
      lastHash = verdict.entry.hash;
      if (wanted.has(entries)) hashes.set(entries, lastHash);
      onEntry?.(verdict.entry);
      return true;
    }
    broken = {
      ok: false,
      entries,
      firstBadSeq: entries + 1,
      line: line.number,
      problem: verdict.problem,
      kind: verdict.kind,
    };
    return false;
  });
  return { chain: broken ?? { ok: true, entries, lastHash }, hashes };
}

function judge(
  checkpoint: Checkpoint,
  chain: VerifyResult,
  hashes: Map<number, string>,
  keys: KeyRing,
): { verdict: CheckpointVerdict; detail: string } {
  const signature = checkSignature(checkpoint, keys);
  if (signature === 'invalid')
    return {
      verdict: 'bad_signature',
      detail: 'its signature does not verify with the public key: the checkpoint was edited or forged',
    };
  const hash = hashes.get(checkpoint.seq);
  if (hash === undefined) {
    if (!chain.ok)
      return {
        verdict: 'beyond_break',
        detail: `not checked: the chain breaks at seq ${chain.firstBadSeq}, before it`,
      };
    return {
      verdict: 'truncated',
      detail: `the log ends at seq ${chain.entries}: entries ${chain.entries + 1} to ${checkpoint.seq} or more were removed`,
    };
  }
  if (hash !== checkpoint.hash) {
    return {
      verdict: 'rewritten',
      detail: `the entry at seq ${checkpoint.seq} has hash ${hash}, not the ${checkpoint.hash} it had: the chain was rewritten at or before seq ${checkpoint.seq}`,
    };
  }
  if (signature === 'unsigned')
    return {
      verdict: 'unsigned',
      detail: 'agrees with the chain; unsigned, so it proves nothing against someone who can edit files',
    };
  if (signature === 'unknown_key')
    return {
      verdict: 'unknown_key',
      detail: `agrees with the chain; signed by key ${checkpoint.keyId}, which was not given to verify (pass its public key)`,
    };
  return { verdict: 'holds', detail: `agrees with the chain and is signed by key ${checkpoint.keyId}` };
}

/**
 * A file log has one writer at a time, and every start writes an `open` checkpoint at the
 * head it found: entries between a `shutdown` checkpoint and the next start were written
 * by no agent. A start that found entries after a `periodic` one adopted a crash's tail.
 */
function lifecycle(findings: CheckpointFinding[], chain: VerifyResult): CheckpointFinding['index'][] {
  const adopted: number[] = [];
  const ordered = findings.filter((f) => f.verdict !== 'bad_signature');
  ordered.forEach((finding, i) => {
    const next = ordered[i + 1];
    const { checkpoint } = finding;
    if (checkpoint.reason === 'shutdown') {
      const endSeq = next ? next.checkpoint.seq : chain.entries;
      if (endSeq > checkpoint.seq && (next === undefined || next.checkpoint.reason === 'open')) {
        if (!isContradiction(finding.verdict)) {
          finding.verdict = 'appended_after_shutdown';
          finding.detail = `entries ${checkpoint.seq + 1} to ${endSeq} were appended after this checkpoint closed the log${next ? ` and before the next start (checkpoint #${next.index + 1})` : ''}: no mlops-agent process wrote them`;
        }
      }
    } else if (next && next.checkpoint.reason === 'open' && next.checkpoint.seq > checkpoint.seq) {
      adopted.push(i);
    }
  });
  return adopted.map((i) => ordered[i + 1]!.index);
}

export async function verifyWithCheckpoints(
  scan: StoredLineScan,
  options: {
    location: string;
    store: AuditStoreKind;
    checkpoints: readonly Checkpoint[];
    unreadableCheckpoints?: { line: number; problem: string }[];
    keys: KeyRing;
    /** A faster way to check the same chain (a file on every core). */
    walk?: ChainWalk;
  },
): Promise<AuditVerifyReport> {
  const wanted = new Set(options.checkpoints.map((c) => c.seq));
  const { chain, hashes } = options.walk ? await options.walk(wanted) : await walk(scan, wanted);
  const findings: CheckpointFinding[] = options.checkpoints.map((checkpoint, index) => ({
    index,
    checkpoint,
    ...judge(checkpoint, chain, hashes, options.keys),
  }));
  const adoptedBy = options.store === 'file' ? lifecycle(findings, chain) : [];
  let provenBy: CheckpointFinding | null = null;
  for (const f of findings)
    if (f.verdict === 'holds' && (!provenBy || f.checkpoint.seq > provenBy.checkpoint.seq)) provenBy = f;
  const provenThrough = provenBy?.checkpoint.seq ?? 0;
  const chainEnd = chain.entries;
  const adoptedAfterCrash = adoptedBy.map((index) => {
    const by = findings[index]!;
    const before = findings
      .slice(0, index)
      .filter((f) => f.verdict !== 'bad_signature')
      .at(-1)!;
    return { from: before.checkpoint.seq + 1, to: by.checkpoint.seq, by };
  });
  const unreadable = options.unreadableCheckpoints ?? [];
  return {
    location: options.location,
    store: options.store,
    chain,
    checkpoints: findings,
    unreadableCheckpoints: unreadable,
    provenThrough,
    provenBy,
    notCovered: chainEnd > provenThrough ? { from: provenThrough + 1, to: chainEnd } : null,
    adoptedAfterCrash,
    ok: chain.ok && unreadable.length === 0 && !findings.some((f) => isContradiction(f.verdict)),
  };
}

/** The report as the lines `audit verify` prints. */
export function formatVerifyReport(report: AuditVerifyReport): string[] {
  const out: string[] = [];
  const { chain } = report;
  const where = `${report.store === 'file' ? 'File' : 'PostgreSQL'}: ${report.location}`;
  if (chain.ok) out.push(`audit log intact: ${chain.entries} entries, last hash ${chain.lastHash}`, where);
  else {
    out.push(
      `audit log BROKEN at seq ${chain.firstBadSeq} (${report.store === 'file' ? 'line' : 'row'} ${chain.line}): ${chain.problem}`,
    );
    out.push(`${chain.entries} entries before it are intact. ${where}`);
  }
  for (const bad of report.unreadableCheckpoints)
    out.push(`checkpoint record ${bad.line} is unreadable: ${bad.problem}`);
  for (const f of report.checkpoints) {
    if (isContradiction(f.verdict)) out.push(`CONTRADICTED: ${describeCheckpoint(f.checkpoint, f.index)}: ${f.detail}`);
  }
  const counts = new Map<CheckpointVerdict, number>();
  for (const f of report.checkpoints) counts.set(f.verdict, (counts.get(f.verdict) ?? 0) + 1);
  if (report.checkpoints.length === 0) {
    out.push(
      'no checkpoints: the entries chain together, but entries cut off the end, or a log rewritten whole, would go unnoticed',
    );
  } else {
    const parts = [...counts].map(([verdict, n]) => `${n} ${verdict.replaceAll('_', ' ')}`);
    out.push(`checkpoints: ${report.checkpoints.length} (${parts.join(', ')})`);
    for (const f of report.checkpoints)
      if (f.verdict === 'unknown_key') out.push(`  ${describeCheckpoint(f.checkpoint, f.index)}: ${f.detail}`);
  }
  if (report.provenBy)
    out.push(
      `proven: entries 1 to ${report.provenThrough}, by ${describeCheckpoint(report.provenBy.checkpoint, report.provenBy.index)}`,
    );
  else out.push('proven: nothing; no signed checkpoint verified with the public key agrees with the chain');
  for (const a of report.adoptedAfterCrash) {
    out.push(
      `note: entries ${a.from} to ${a.to} were written before a crash and first checkpointed by the next start (${describeCheckpoint(a.by.checkpoint, a.by.index)}), as it found them`,
    );
  }
  if (report.notCovered) {
    const where =
      report.provenThrough > 0 ? 'come after the last signed checkpoint' : 'are covered by no signed checkpoint';
    out.push(
      `not yet covered: entries ${report.notCovered.from} to ${report.notCovered.to} ${where}; they chain together but are not proven (removing or replacing them would go unnoticed)`,
    );
  }
  return out;
}
