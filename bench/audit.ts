// Audit log throughput against plain fs baselines measured in the same run:
//   (a) sequential appends vs an appendFile+fsync loop of the same bytes,
//   (b) 64 appends in flight (group commit) vs the same per-entry-fsync baseline,
//   (c) verifyAuditFile entries/s vs reading and JSON-parsing the same file.
// Run: npx tsx bench/audit.ts
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openFileAuditLog, verifyAuditFile, type AuditEntryInput } from '../src/audit/index.js';

const SEQUENTIAL = 1500;
const CONCURRENT_TOTAL = 20_000;
const IN_FLIGHT = 64;
const VERIFY_ENTRIES = 20_000;

const dir = mkdtempSync(join(tmpdir(), 'mlops-bench-audit-'));

function entry(i: number): AuditEntryInput {
  return {
    runId: `run-${i % 17}`,
    principal: 'bench@example.com',
    kind: 'policy.decision',
    data: { tool: 'deploy_canary', effect: i % 3 === 0 ? 'require_approval' : 'allow', ruleId: 'prod-canary', args: { model: 'credit-scoring', version: i, percent: 5 } },
  };
}

async function timed(fn: () => Promise<void>): Promise<number> {
  const start = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - start) / 1e9;
}

async function sequentialLog(file: string, n: number): Promise<number> {
  const log = await openFileAuditLog({ file });
  const seconds = await timed(async () => {
    for (let i = 0; i < n; i++) await log.append(entry(i));
  });
  await log.close();
  return seconds;
}

async function concurrentLog(file: string, n: number, inFlight: number): Promise<number> {
  const log = await openFileAuditLog({ file });
  let next = 0;
  const seconds = await timed(async () => {
    const worker = async (): Promise<void> => {
      while (next < n) await log.append(entry(next++));
    };
    await Promise.all(Array.from({ length: inFlight }, worker));
  });
  await log.close();
  return seconds;
}

/** The baseline: each line appended and fsync'd on its own, nothing else. */
async function plainAppendFsync(file: string, lines: string[]): Promise<number> {
  const handle = await open(file, 'a');
  const seconds = await timed(async () => {
    for (const line of lines) {
      await handle.appendFile(line);
      await handle.sync();
    }
  });
  await handle.close();
  return seconds;
}

function linesOf(file: string): string[] {
  return readFileSync(file, 'utf8').split(/(?<=\n)/);
}

const rows: [string, string, string, string][] = [];
const rate = (n: number, s: number): string => `${Math.round(n / s).toLocaleString('en-US')}/s`;

try {
  // (a) Run each side twice, interleaved, and keep the best, so disk warm-up favours neither.
  let logBest = Infinity;
  let plainBest = Infinity;
  for (let round = 0; round < 2; round++) {
    const logFile = join(dir, `seq-${round}.jsonl`);
    logBest = Math.min(logBest, await sequentialLog(logFile, SEQUENTIAL));
    plainBest = Math.min(plainBest, await plainAppendFsync(join(dir, `plain-${round}.jsonl`), linesOf(logFile)));
  }
  rows.push(['(a) sequential append', rate(SEQUENTIAL, logBest), rate(SEQUENTIAL, plainBest), (plainBest / logBest).toFixed(2)]);

  // (b) Same baseline rate: one fsync per entry is what group commit saves.
  const concurrentSeconds = await concurrentLog(join(dir, 'concurrent.jsonl'), CONCURRENT_TOTAL, IN_FLIGHT);
  const plainPerSecond = SEQUENTIAL / plainBest;
  const concurrentPerSecond = CONCURRENT_TOTAL / concurrentSeconds;
  rows.push([`(b) ${IN_FLIGHT} appends in flight`, rate(CONCURRENT_TOTAL, concurrentSeconds), `${Math.round(plainPerSecond).toLocaleString('en-US')}/s`, (concurrentPerSecond / plainPerSecond).toFixed(2)]);
  const concurrentCheck = await verifyAuditFile(join(dir, 'concurrent.jsonl'));
  if (!concurrentCheck.ok || concurrentCheck.entries !== CONCURRENT_TOTAL) throw new Error(`concurrent log did not verify: ${JSON.stringify(concurrentCheck)}`);

  // (c) Verify vs the floor of any verifier: read the file and parse each line.
  const verifyFile = join(dir, 'verify.jsonl');
  await concurrentLog(verifyFile, VERIFY_ENTRIES, 256);
  let verifyBest = Infinity;
  let parseBest = Infinity;
  for (let round = 0; round < 3; round++) {
    verifyBest = Math.min(
      verifyBest,
      await timed(async () => {
        const result = await verifyAuditFile(verifyFile);
        if (!result.ok || result.entries !== VERIFY_ENTRIES) throw new Error('verify failed');
      }),
    );
    parseBest = Math.min(
      parseBest,
      await timed(async () => {
        const text = await readFile(verifyFile, 'utf8');
        let n = 0;
        for (const line of text.split('\n')) if (line !== '') n += (JSON.parse(line) as { seq: number }).seq > 0 ? 1 : 0;
        if (n !== VERIFY_ENTRIES) throw new Error('parse baseline miscounted');
      }),
    );
  }
  rows.push([`(c) verify ${VERIFY_ENTRIES.toLocaleString('en-US')} entries`, rate(VERIFY_ENTRIES, verifyBest), rate(VERIFY_ENTRIES, parseBest), (parseBest / verifyBest).toFixed(2)]);

  const header: [string, string, string, string] = ['case', 'audit log', 'baseline', 'ratio'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const fmt = (r: string[]): string => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  console.log(fmt(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of rows) console.log(fmt(r));
  console.log('\nbaselines: (a),(b) appendFile+fsync per line of the same bytes; (c) readFile + JSON.parse per line');
  console.log('ratio: audit log speed / baseline speed (higher is better for the log)');
} finally {
  rmSync(dir, { recursive: true, force: true });
}
