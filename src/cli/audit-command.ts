// `mlops-agent audit verify|tail|export|report|keygen|migrate`: check the chain and its
// checkpoints after an incident, read recent steps, hand an auditor one run's evidence.
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import {
  buildEvidenceBundle,
  DEFAULT_CHECKPOINTS,
  formatBundleVerification,
  formatVerifyReport,
  generateSigningKeyPair,
  migratePostgresAudit,
  openAuditReader,
  readCheckpointFile,
  renderEvidenceReport,
  verificationKeys,
  verifyAudit,
  verifyEvidenceBundle,
  type AuditConfig,
  type AuditEntry,
  type EvidenceBundle,
  type EvidenceContext,
  type RunRecord,
} from '../audit/index.js';
import { describePostgres, openPool } from '../audit/pg-connection.js';
import { writeFileAtomic } from '../durable-file.js';
import { UserError } from '../errors.js';
import { silentLogger, type Logger } from '../logger.js';
import { formatOf, outputOption, renderListing, type Column, type OutputFormat } from './output/listing.js';
import { dim } from './output/style.js';
import { terminalSafe } from './terminal-safe.js';

/** Exit code of `audit verify` when the chain is broken (1 and 2 are taken by errors and usage). */
export const AUDIT_BROKEN_EXIT_CODE = 3;

const SUMMARY_MAX = 160;

function parseCount(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < 1) {
    throw new InvalidArgumentError(`expected a positive whole number of entries, like 20; got "${value}"`);
  }
  return n;
}

function formatValue(value: unknown): string {
  if (typeof value === 'string') return /^[\w.:/@+-]+$/.test(value) ? value : JSON.stringify(value);
  return JSON.stringify(value) ?? 'null';
}

/** `key=value` pairs of an entry's data, cut to one readable line. */
export function summarizeData(data: Record<string, unknown>, max: number = SUMMARY_MAX): string {
  // Short values first: data is stored in canonical (sorted) key order, and a long answer
  // or a tool's whole output would otherwise push a status or a summary off the line.
  const scalars: string[] = [];
  const nested: string[] = [];
  for (const [key, value] of Object.entries(data))
    (typeof value === 'object' && value !== null ? nested : scalars).push(`${key}=${formatValue(value)}`);
  // sort is stable: pairs of equal length keep their key order.
  const text = [...scalars.sort((a, b) => a.length - b.length), ...nested].join(' ');
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

const ENTRY_COLUMNS: Column<AuditEntry>[] = [
  { header: 'SEQ', value: (e) => String(e.seq), align: 'right' },
  { header: 'TIME', value: (e) => e.time, style: dim },
  { header: 'KIND', value: (e) => String(e.kind) },
  { header: 'RUN', value: (e) => e.runId ?? '-' },
  { header: 'BY', value: (e) => e.principal, max: 30 },
  {
    header: 'DATA',
    value: (e) => summarizeData(typeof e.data === 'object' && e.data !== null ? e.data : {}, Infinity),
    max: SUMMARY_MAX,
  },
];

/** One entry, one line: whatever an alert or a model put in it is escaped (terminal-safe.ts). */
export function formatEntryLine(entry: AuditEntry): string {
  const data = typeof entry.data === 'object' && entry.data !== null ? entry.data : {};
  return terminalSafe(
    [
      String(entry.seq).padStart(6),
      entry.time,
      String(entry.kind).padEnd(26),
      `run=${entry.runId ?? '-'}`,
      `by=${entry.principal}`,
      summarizeData(data),
    ]
      .join('  ')
      .trimEnd(),
  );
}

/** What `audit verify` proves, for its --help and the README. */
export const VERIFY_HELP = `
What verify proves:
  Always: every entry's hash matches its contents and links to the one before it, so an
  entry edited, deleted, inserted or reordered inside the chain is found (exit 3, first bad seq).
  With checkpoints signed by audit.signingKeyFile, checked with its public key: every entry up
  to the last checkpoint that holds is exactly as it was when that checkpoint was signed.
  Entries cut off the end, a chain rewritten with recomputed hashes, or forged entries put in
  place of checkpointed ones contradict a checkpoint, which is named (exit 3). A file log also
  reports entries appended after its writer's shutdown checkpoint (exit 3).
  Not proven: entries after the last signed checkpoint ("not yet covered"): they chain
  together, but removing or replacing them would go unnoticed. Checkpoints are written every
  audit.checkpoint.everyEntries appends, every audit.checkpoint.everyMs, and at shutdown.
  Without a signing key checkpoints are unsigned: they catch accidents, not tampering.
  Deleting the checkpoints too goes unnoticed unless copies were kept elsewhere
  (audit.checkpoint.postUrl, or --checkpoints FILE with a copy).`;

type CliConfig = AuditConfig;

/** Fills what a bare { auditFile } (tests, old callers) leaves out. */
function withDefaults(config: Partial<CliConfig> & { auditFile: string }): CliConfig {
  return {
    auditStore: 'file',
    databaseUrl: undefined,
    ...config,
    audit: config.audit ?? {
      postgresSchema: 'mlops_audit',
      publicKeyFiles: [],
      checkpoint: { everyEntries: DEFAULT_CHECKPOINTS.everyEntries, everyMs: DEFAULT_CHECKPOINTS.everyMs },
    },
  } as CliConfig;
}

export interface AuditCommandDeps {
  config: () => Partial<CliConfig> & { auditFile: string };
  logger?: () => Logger;
  /** Where export reads context (the run store, the registry); none: the bundle carries no context. */
  evidenceContext?: () => Promise<{ context: (record: RunRecord) => Promise<EvidenceContext>; close(): Promise<void> }>;
  now?: () => Date;
}

const collect = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value];

/**
 * The `audit` command. Output goes through this command's `configureOutput().writeOut`
 * (stdout unless configured), so callers and tests can capture it.
 */
export function auditCommand(
  depsOrConfig: AuditCommandDeps | (() => Partial<CliConfig> & { auditFile: string }),
): Command {
  const deps: AuditCommandDeps = typeof depsOrConfig === 'function' ? { config: depsOrConfig } : depsOrConfig;
  const config = () => withDefaults(deps.config());
  const logger = () => deps.logger?.() ?? silentLogger;
  const audit = new Command('audit').description("inspect the tamper-evident audit log, and export one run's evidence");
  const write = (text: string): void => {
    const out = audit.configureOutput().writeOut;
    if (out) out(text);
    else process.stdout.write(text);
  };
  const lines = (list: string[]) => write(list.map((l) => `${l}\n`).join(''));
  const readerFor = (options: { file?: string; checkpoints?: string }) =>
    openAuditReader(config(), logger(), {
      ...(options.file !== undefined ? { file: options.file } : {}),
      ...(options.checkpoints !== undefined ? { checkpointsFile: options.checkpoints } : {}),
    });

  audit
    .command('verify')
    .description(
      `check every entry's hash and link, and every checkpoint against the chain; exits ${AUDIT_BROKEN_EXIT_CODE} if anything was edited, deleted, reordered, cut off or rewritten`,
    )
    .option('--file <path>', 'a file log to check (default: the configured store)')
    .option('--checkpoints <path>', "checkpoints to check against (default: the store's own; e.g. a witness's copy)")
    .option(
      '--public-key <path>',
      "public key (PEM) checkpoints must verify with; repeatable (default: audit.publicKeyFiles and the signing key's own)",
      collect,
    )
    .option('--bundle <path>', 'check an evidence bundle on its own, offline, instead of the log')
    .option('--json', 'print the full report as JSON')
    .addHelpText('after', VERIFY_HELP)
    .action(
      async (options: {
        file?: string;
        checkpoints?: string;
        publicKey?: string[];
        bundle?: string;
        json?: boolean;
      }) => {
        const keys = verificationKeys(config(), options.publicKey ?? []);
        if (options.bundle !== undefined) {
          const bundle = await readBundle(options.bundle);
          const result = verifyEvidenceBundle(bundle, keys);
          if (options.json) write(`${JSON.stringify(result, null, 2)}\n`);
          else lines(formatBundleVerification(result, options.bundle));
          if (result.status !== 'proven') process.exitCode = AUDIT_BROKEN_EXIT_CODE;
          return;
        }
        const reader = readerFor(options);
        try {
          const checkpoints =
            options.checkpoints !== undefined ? await readCheckpointFile(resolve(options.checkpoints)) : undefined;
          const report = await verifyAudit(reader, { keys, ...(checkpoints ? { checkpoints } : {}) });
          if (options.json) write(`${JSON.stringify(report, null, 2)}\n`);
          else lines(formatVerifyReport(report));
          if (!report.ok) process.exitCode = AUDIT_BROKEN_EXIT_CODE;
        } finally {
          await reader.close();
        }
      },
    );

  audit
    .command('tail')
    .description('show the most recent entries: seq, time, kind, run, principal and a summary of the data')
    .option('-n, --lines <count>', 'how many entries to show', parseCount, 20)
    .option('--run <id>', 'only entries of this run')
    .addOption(outputOption())
    .option('--json', 'the same as -o jsonl: one entry a line, exactly as stored')
    .option('--file <path>', 'audit log to read (default: the configured store)')
    .action(async (options: { lines: number; run?: string; output: OutputFormat; json?: boolean; file?: string }) => {
      const reader = readerFor(options);
      let entries: AuditEntry[];
      try {
        entries = await reader.tail({
          tail: options.lines,
          ...(options.run !== undefined ? { runId: options.run } : {}),
        });
      } finally {
        await reader.close();
      }
      write(
        renderListing(
          entries,
          formatOf(options),
          ENTRY_COLUMNS,
          options.run !== undefined ? `no audit entries for run ${options.run}` : 'the audit log is empty',
        ),
      );
    });

  audit
    .command('export')
    .description(
      "write one run's evidence bundle: its record (trigger, turns, calls, decisions, approvals, results, data and model versions, canary analyses) and the chain proof up to a signed checkpoint",
    )
    .requiredOption('--run <id>', 'the run, as printed by chat, demo or runs list')
    .option('--out <path>', 'where to write the bundle (default ./evidence-<run>.json)')
    .option('--html <path>', 'also write the bundle as a self-contained HTML report')
    .option('--file <path>', 'a file log to read (default: the configured store)')
    .action(async (options: { run: string; out?: string; html?: string; file?: string }) => {
      const reader = readerFor(options);
      const keys = verificationKeys(config());
      const sources = deps.evidenceContext ? await deps.evidenceContext() : null;
      let bundle: EvidenceBundle;
      try {
        bundle = await buildEvidenceBundle({
          reader,
          runId: options.run,
          keys,
          now: deps.now?.() ?? new Date(),
          ...(sources ? { context: sources.context } : {}),
        });
      } finally {
        await reader.close();
        await sources?.close();
      }
      const out = resolve(options.out ?? `evidence-${options.run.replace(/[^\w.-]/g, '_')}.json`);
      await writeFileAtomic(out, `${JSON.stringify(bundle, null, 2)}\n`);
      const verification = verifyEvidenceBundle(bundle, keys);
      lines([
        `wrote ${out}: run ${bundle.runId}, ${verification.runEntries} entries (proof: seq ${bundle.proof.firstSeq} to ${bundle.proof.lastSeq})`,
        ...formatBundleVerification(verification, out),
      ]);
      if (options.html) {
        const html = resolve(options.html);
        await writeFileAtomic(html, renderEvidenceReport(bundle, verification));
        write(`wrote ${html}\n`);
      }
    });

  audit
    .command('report')
    .description('render an evidence bundle as a self-contained HTML page (checked first; the page shows the result)')
    .requiredOption('--bundle <path>', 'the bundle, as written by audit export')
    .option('--out <path>', 'where to write the page (default: the bundle with .html)')
    .option('--public-key <path>', 'public key (PEM) to check it with; repeatable', collect)
    .action(async (options: { bundle: string; out?: string; publicKey?: string[] }) => {
      const bundle = await readBundle(options.bundle);
      const verification = verifyEvidenceBundle(bundle, verificationKeys(config(), options.publicKey ?? []));
      if (verification.runId === null) {
        lines(formatBundleVerification(verification, options.bundle));
        process.exitCode = AUDIT_BROKEN_EXIT_CODE;
        return;
      }
      const out = resolve(options.out ?? options.bundle.replace(/\.json$/, '') + '.html');
      await writeFileAtomic(out, renderEvidenceReport(bundle as EvidenceBundle, verification));
      lines([...formatBundleVerification(verification, options.bundle), `wrote ${out}`]);
      if (verification.status !== 'proven') process.exitCode = AUDIT_BROKEN_EXIT_CODE;
    });

  audit
    .command('keygen')
    .description(
      'create an Ed25519 key pair for signing checkpoints: FILE (private, mode 0600) and FILE.pub (for verifiers)',
    )
    .requiredOption('--out <path>', 'the private key file to create (never overwritten)')
    .action(async (options: { out: string }) => {
      const file = resolve(options.out);
      if (existsSync(file) || existsSync(`${file}.pub`)) {
        throw new UserError(
          `${existsSync(file) ? file : `${file}.pub`} already exists; keygen never overwrites a key: choose another --out, or move the old one away first`,
          { code: 'input_invalid' },
        );
      }
      const pair = generateSigningKeyPair();
      await mkdir(dirname(file), { recursive: true, mode: 0o700 });
      await writeFile(file, pair.privatePem, { mode: 0o600, flag: 'wx' });
      await writeFile(`${file}.pub`, pair.publicPem, { mode: 0o644, flag: 'wx' });
      lines([
        `wrote ${file} (private, mode 0600) and ${file}.pub (public); key id ${pair.keyId}`,
        'sign checkpoints with it (mlops-agent.yaml):',
        '  audit:',
        `    signingKeyFile: ${file}`,
        `or export MLOPS_AGENT_AUDIT_SIGNING_KEY=${file}`,
        `give auditors ${file}.pub: mlops-agent audit verify --public-key ${file}.pub`,
      ]);
    });

  audit
    .command('migrate')
    .description(
      "create or upgrade the PostgreSQL audit schema (DATABASE_URL, audit.postgresSchema) with a role that may; the app's own role then needs INSERT and SELECT only",
    )
    .action(async () => {
      const c = config();
      if (!c.databaseUrl)
        throw new UserError(
          'audit migrate needs DATABASE_URL (or databaseUrl in the config): postgres://owner:password@host:5432/db',
          { code: 'config_invalid' },
        );
      const pool = openPool(c.databaseUrl, logger(), 1);
      try {
        const where = describePostgres(c.databaseUrl, c.audit.postgresSchema);
        const done = await migratePostgresAudit(pool, c.audit.postgresSchema, where);
        write(`${done === 'current' ? 'already current' : 'created or upgraded'}: the audit schema in ${where}\n`);
      } finally {
        await pool.end();
      }
    });

  return audit;
}

async function readBundle(file: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new UserError(`cannot read the evidence bundle ${file}: ${(err as Error).message}`, {
      code: (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'not_found' : 'input_invalid',
      cause: err,
    });
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new UserError(
      `the evidence bundle ${file} is not JSON (${(err as Error).message}); pass the file audit export wrote`,
      { code: 'input_invalid', cause: err },
    );
  }
}
