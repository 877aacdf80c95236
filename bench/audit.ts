// Audit log throughput and cost, each against a baseline measured in the same run:
//   (a) file: sequential appends vs an appendFile+fsync loop of the same bytes,
//   (b) file: 64 appends in flight (group commit) vs the same per-entry-fsync baseline,
//   (c) file: `audit verify` (built) entries/s vs reading and JSON-parsing the same file,
//   (d) file: opening a log of 10k, 100k and 1M entries (after a clean shutdown, and after a
//       crash that left 1,000 entries past the last checkpoint) vs scanning its whole chain,
//       which is what opening cost before checkpoints,
//   (e) PostgreSQL: appends/s with 1 and 8 concurrent writers (separate connections, one
//       append in flight each, as separate worker processes would) vs plain single-row
//       INSERT + COMMIT of the same bytes with as many connections; and one process with
//       64 appends in flight.
// Run: npm run bench:audit  (PostgreSQL on 127.0.0.1:5432, or BENCH_DATABASE_URL; BENCH_OPEN_SIZES=10000,100000;
// BENCH_CASES=c,e for some cases only)
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import {
  openFileAuditLog,
  openPostgresAuditLog,
  verifyAuditFile,
  type AuditEntryInput,
  type AuditLog,
} from '../src/audit/index.js';

const SEQUENTIAL = 1500;
const CONCURRENT_TOTAL = 20_000;
const IN_FLIGHT = 64;
const VERIFY_ENTRIES = 200_000;
const OPEN_SIZES = (process.env.BENCH_OPEN_SIZES ?? '10000,100000,1000000').split(',').map(Number);
const PG_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const PG_SECONDS = 2;
const PG_ROUNDS = 5;
/** Which cases to run, e.g. BENCH_CASES=c,e (default all). */
const CASES = new Set((process.env.BENCH_CASES ?? 'a,b,c,d,e').split(','));

const dir = mkdtempSync(join(tmpdir(), 'mlops-bench-audit-'));
/** With --expose-gc (npm run bench:audit passes it), heap held by an open log is measured too. */
const gc = (globalThis as { gc?: () => void }).gc;
const notes: string[] = [];

function entry(i: number): AuditEntryInput {
  return {
    runId: `run-${i % 17}`,
    principal: 'bench@example.com',
    kind: 'policy.decision',
    data: {
      tool: 'deploy_canary',
      effect: i % 3 === 0 ? 'require_approval' : 'allow',
      ruleId: 'prod-canary',
      args: { model: 'credit-scoring', version: i, percent: 5 },
    },
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

async function concurrently(log: AuditLog, n: number, inFlight: number): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < n) await log.append(entry(next++));
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
}

async function concurrentLog(file: string, n: number, inFlight: number): Promise<number> {
  const log = await openFileAuditLog({ file });
  const seconds = await timed(() => concurrently(log, n, inFlight));
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

type Row = [string, string, string, string];
const rows: Row[] = [];
const rate = (n: number, s: number): string => `${Math.round(n / s).toLocaleString('en-US')}/s`;
const ms = (s: number): string => `${(s * 1000).toFixed(s < 0.1 ? 2 : 0)} ms`;

async function fileAppends(): Promise<void> {
  // (a) Run each side twice, interleaved, and keep the best, so disk warm-up favours neither.
  let logBest = Infinity;
  let plainBest = Infinity;
  for (let round = 0; round < 2; round++) {
    const logFile = join(dir, `seq-${round}.jsonl`);
    logBest = Math.min(logBest, await sequentialLog(logFile, SEQUENTIAL));
    plainBest = Math.min(plainBest, await plainAppendFsync(join(dir, `plain-${round}.jsonl`), linesOf(logFile)));
  }
  rows.push([
    '(a) file: sequential append',
    rate(SEQUENTIAL, logBest),
    rate(SEQUENTIAL, plainBest),
    (plainBest / logBest).toFixed(2),
  ]);
  // (b) Same baseline rate: one fsync per entry is what group commit saves.
  const concurrentSeconds = await concurrentLog(join(dir, 'concurrent.jsonl'), CONCURRENT_TOTAL, IN_FLIGHT);
  const plainPerSecond = SEQUENTIAL / plainBest;
  rows.push([
    `(b) file: ${IN_FLIGHT} appends in flight`,
    rate(CONCURRENT_TOTAL, concurrentSeconds),
    `${Math.round(plainPerSecond).toLocaleString('en-US')}/s`,
    (CONCURRENT_TOTAL / concurrentSeconds / plainPerSecond).toFixed(2),
  ]);
  const check = await verifyAuditFile(join(dir, 'concurrent.jsonl'));
  if (!check.ok || check.entries !== CONCURRENT_TOTAL)
    throw new Error(`concurrent log did not verify: ${JSON.stringify(check)}`);
}

async function fileVerify(): Promise<void> {
  // (c) Verify vs the floor of any verifier: read the file and parse each line. The built
  // verifier (`npm run bench:audit` builds first) is timed, as `mlops-agent audit verify`
  // runs it: from the sources, each of its worker threads would transpile them under tsx first.
  const { verifyAuditFile: verifyBuilt } = (await import(
    new URL('../dist/src/audit/index.js', import.meta.url).href
  )) as { verifyAuditFile: typeof verifyAuditFile };
  const verifyFile = join(dir, 'verify.jsonl');
  await concurrentLog(verifyFile, VERIFY_ENTRIES, 1024);
  let verifyBest = Infinity;
  let parseBest = Infinity;
  for (let round = 0; round < 3; round++) {
    verifyBest = Math.min(
      verifyBest,
      await timed(async () => {
        const result = await verifyBuilt(verifyFile);
        if (!result.ok || result.entries !== VERIFY_ENTRIES) throw new Error('verify failed');
      }),
    );
    parseBest = Math.min(
      parseBest,
      await timed(async () => {
        const text = await readFile(verifyFile, 'utf8');
        let n = 0;
        for (const line of text.split('\n'))
          if (line !== '') n += (JSON.parse(line) as { seq: number }).seq > 0 ? 1 : 0;
        if (n !== VERIFY_ENTRIES) throw new Error('parse baseline miscounted');
      }),
    );
  }
  rows.push([
    `(c) file: verify ${VERIFY_ENTRIES.toLocaleString('en-US')} entries`,
    rate(VERIFY_ENTRIES, verifyBest),
    rate(VERIFY_ENTRIES, parseBest),
    (parseBest / verifyBest).toFixed(2),
  ]);
  rmSync(verifyFile);
  rmSync(`${verifyFile}.checkpoints`, { force: true });
}

async function openCost(): Promise<void> {
  // (d) Logs written by the real writer (a checkpoint every 1,000 entries, one at shutdown).
  for (const size of OPEN_SIZES) {
    const file = join(dir, `open-${size}.jsonl`);
    const writer = await openFileAuditLog({ file, checkpoints: { everyEntries: 1000, everyMs: 0 } });
    await concurrently(writer, size, 4096);
    await writer.close();
    const checkpoints = readFileSync(`${file}.checkpoints`, 'utf8');
    let openBest = Infinity;
    let crashBest = Infinity;
    let scanBest = Infinity;
    let held = 0;
    for (let round = 0; round < 3; round++) {
      writeFileSync(`${file}.checkpoints`, checkpoints);
      let log: AuditLog | null = null;
      gc?.();
      const before = process.memoryUsage().heapUsed;
      openBest = Math.min(
        openBest,
        await timed(async () => void (log = await openFileAuditLog({ file, checkpoints: { everyMs: 0 } }))),
      );
      gc?.();
      held = Math.max(held, process.memoryUsage().heapUsed - before);
      await log!.close();
      // A crash 999 entries after the last periodic checkpoint: no shutdown checkpoint, and opening checks those entries.
      const cut = checkpoints.split('\n').filter(Boolean);
      writeFileSync(`${file}.checkpoints`, `${cut.slice(0, -2).join('\n')}\n`);
      const lastKept = JSON.parse(cut.at(-3) ?? '{"seq":0}') as { seq: number };
      if (size - lastKept.seq < 999)
        throw new Error(`expected ~1,000 entries past the last checkpoint, got ${size - lastKept.seq}`);
      crashBest = Math.min(
        crashBest,
        await timed(async () => void (log = await openFileAuditLog({ file, checkpoints: { everyMs: 0 } }))),
      );
      await log!.close();
      scanBest = Math.min(scanBest, await timed(async () => void (await verifyAuditFile(file))));
    }
    rows.push([
      `(d) file: open ${size.toLocaleString('en-US')} entries, clean shutdown`,
      ms(openBest),
      `${ms(scanBest)} scan`,
      (scanBest / openBest).toFixed(0),
    ]);
    rows.push([
      `(d) file: open ${size.toLocaleString('en-US')} entries, after a crash`,
      ms(crashBest),
      `${ms(scanBest)} scan`,
      (scanBest / crashBest).toFixed(0),
    ]);
    if (gc)
      notes.push(
        `(d) an open log of ${size.toLocaleString('en-US')} entries holds ${Math.max(0, Math.round(held / 1024)).toLocaleString('en-US')} KiB of heap`,
      );
    rmSync(file);
    rmSync(`${file}.checkpoints`);
  }
}

/** Runs `writers` loops for PG_SECONDS; each loop's `step` is one append or one insert. Returns ops/s. */
async function forSeconds(writers: number, step: (w: number) => Promise<void>): Promise<number> {
  let done = 0;
  const until = Date.now() + PG_SECONDS * 1000;
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: writers }, async (_, w) => {
      while (Date.now() < until) {
        await step(w);
        done++;
      }
    }),
  );
  return done / (Number(process.hrtime.bigint() - started) / 1e9);
}

async function postgres(): Promise<void> {
  const schema = `bench_audit_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: PG_URL });
  try {
    await admin.connect();
  } catch (err) {
    console.error(`(e) skipped: PostgreSQL at ${PG_URL} is unreachable (${(err as Error).message})`);
    return;
  }
  try {
    await admin.query(`CREATE SCHEMA "${schema}"`);
    await admin.query(`CREATE TABLE "${schema}".plain (id bigserial PRIMARY KEY, line text NOT NULL)`);
    const line = JSON.stringify({
      schemaVersion: 1,
      seq: 1,
      time: new Date().toISOString(),
      ...entry(1),
      prevHash: '0'.repeat(64),
      hash: 'f'.repeat(64),
    });
    const baseline = async (writers: number): Promise<number> => {
      const clients = await Promise.all(
        Array.from({ length: writers }, async () => {
          const c = new pg.Client({ connectionString: PG_URL });
          await c.connect();
          return c;
        }),
      );
      try {
        // Autocommit: one round trip, one synchronous commit per row.
        return await forSeconds(writers, (w) =>
          clients[w]!.query(`INSERT INTO "${schema}".plain (line) VALUES ($1)`, [line]).then(() => undefined),
        );
      } finally {
        for (const c of clients) await c.end();
      }
    };
    const audit = async (writers: number, inFlight = 1): Promise<number> => {
      const logs = await Promise.all(
        Array.from({ length: writers }, () =>
          openPostgresAuditLog({ url: PG_URL, schema, checkpoints: { everyEntries: 1000, everyMs: 0 } }),
        ),
      );
      try {
        let i = 0;
        return await forSeconds(writers * inFlight, (w) => logs[w % writers]!.append(entry(i++)).then(() => undefined));
      } finally {
        for (const log of logs) await log.close();
      }
    };
    // The machine's load moves both sides between seconds: pair each audit round with a
    // baseline round next to it (alternating which goes first) and report the medians.
    const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    const paired = async (
      label: string,
      auditRun: () => Promise<number>,
      baselineRun: () => Promise<number>,
      baselineNote = '',
    ): Promise<void> => {
      const a: number[] = [];
      const b: number[] = [];
      for (let round = 0; round < PG_ROUNDS; round++) {
        if (round % 2 === 0) {
          b.push(await baselineRun());
          a.push(await auditRun());
        } else {
          a.push(await auditRun());
          b.push(await baselineRun());
        }
      }
      const ratios = a.map((x, i) => x / b[i]!);
      rows.push([
        label,
        `${Math.round(median(a)).toLocaleString('en-US')}/s`,
        `${Math.round(median(b)).toLocaleString('en-US')}/s${baselineNote}`,
        `${median(ratios).toFixed(2)} (${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)})`,
      ]);
    };
    for (const writers of [1, 8]) {
      await paired(
        `(e) postgres: ${writers} writer${writers > 1 ? 's' : ''}, 1 append in flight each`,
        () => audit(writers),
        () => baseline(writers),
      );
    }
    await paired(
      '(e) postgres: 1 process, 64 appends in flight',
      () => audit(1, 64),
      () => baseline(8),
      ' (8 conns)',
    );
    const { rows: count } = await admin.query<{ n: string }>(`SELECT count(*) AS n FROM "${schema}".audit_entries`);
    notes.push(
      `(e) ${Number(count[0]!.n).toLocaleString('en-US')} entries appended to one PostgreSQL chain (schema ${schema}, dropped)`,
    );
  } finally {
    await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => undefined);
    await admin.end();
  }
}

const loadBefore = loadavg();
try {
  if (CASES.has('a') || CASES.has('b')) await fileAppends();
  if (CASES.has('c')) await fileVerify();
  if (CASES.has('d')) await openCost();
  if (CASES.has('e')) await postgres();
  const header: Row = ['case', 'audit log', 'baseline', 'ratio'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const fmt = (r: string[]): string =>
    r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  console.log(fmt(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of rows) console.log(fmt(r));
  if (notes.length > 0) console.log(`\n${notes.join('\n')}`);
  console.log(
    '\nbaselines: (a),(b) appendFile+fsync per line of the same bytes; (c) readFile + JSON.parse per line; (d) a scan of the whole chain (what opening cost before checkpoints);',
  );
  console.log(
    '           (e) single-row INSERT + COMMIT of the same bytes, autocommit, as many connections as writers',
  );
  console.log(
    'ratio: audit log speed / baseline speed (higher is better for the log; for (d), how many times faster opening is than the scan;',
  );
  console.log(`       for (e), the median of ${PG_ROUNDS} paired rounds, with the lowest and highest)`);
  const loadAfter = loadavg();
  console.log(
    `load average (1, 5, 15 min): before ${loadBefore.map((l) => l.toFixed(2)).join(', ')}; after ${loadAfter.map((l) => l.toFixed(2)).join(', ')}`,
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
