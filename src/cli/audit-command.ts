// `mlops-agent audit verify|tail`: check the chain after an incident, and read recent steps.
import { Command, InvalidArgumentError } from 'commander';
import { readAuditEntries, verifyAuditFile, type AuditEntry } from '../audit/index.js';
import { jsonSafe, terminalSafe } from './terminal-safe.js';

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
export function summarizeData(data: Record<string, unknown>): string {
  const text = Object.entries(data)
    .map(([key, value]) => `${key}=${formatValue(value)}`)
    .join(' ');
  return text.length > SUMMARY_MAX ? `${text.slice(0, SUMMARY_MAX - 1)}…` : text;
}

/** One entry, one line: whatever an alert or a model put in it is escaped (terminal-safe.ts). */
export function formatEntryLine(entry: AuditEntry): string {
  const data = typeof entry.data === 'object' && entry.data !== null ? entry.data : {};
  return terminalSafe([
    String(entry.seq).padStart(6),
    entry.time,
    String(entry.kind).padEnd(26),
    `run=${entry.runId ?? '-'}`,
    `by=${entry.principal}`,
    summarizeData(data),
  ].join('  ').trimEnd());
}

/**
 * The `audit` command. Output goes through this command's `configureOutput().writeOut`
 * (stdout unless configured), so callers and tests can capture it.
 */
export function auditCommand(loadConfig: () => { auditFile: string }): Command {
  const audit = new Command('audit').description('inspect the tamper-evident audit log');
  const write = (text: string): void => {
    const out = audit.configureOutput().writeOut;
    if (out) out(text);
    else process.stdout.write(text);
  };
  const fileOf = (options: { file?: string }): string => options.file ?? loadConfig().auditFile;

  audit
    .command('verify')
    .description(`check every entry's hash and the chain; exits ${AUDIT_BROKEN_EXIT_CODE} if anything was edited, deleted, reordered or truncated`)
    .option('--file <path>', 'audit log to check (default: the configured audit file)')
    .action(async (options: { file?: string }) => {
      const file = fileOf(options);
      const result = await verifyAuditFile(file);
      if (result.ok) {
        write(`audit log intact: ${result.entries} entries, last hash ${result.lastHash}\n`);
        return;
      }
      write(`audit log BROKEN at seq ${result.firstBadSeq} (line ${result.line}): ${result.problem}\n`);
      write(`${result.entries} entries before it are intact. File: ${file}\n`);
      process.exitCode = AUDIT_BROKEN_EXIT_CODE;
    });

  audit
    .command('tail')
    .description('show the most recent entries: seq, time, kind, run, principal and a summary of the data')
    .option('-n, --lines <count>', 'how many entries to show', parseCount, 20)
    .option('--run <id>', 'only entries of this run')
    .option('--json', 'print the entries as JSON lines, exactly as stored')
    .option('--file <path>', 'audit log to read (default: the configured audit file)')
    .action(async (options: { lines: number; run?: string; json?: boolean; file?: string }) => {
      const entries = await readAuditEntries(fileOf(options), { tail: options.lines, ...(options.run !== undefined ? { runId: options.run } : {}) });
      if (entries.length === 0) {
        if (!options.json) write(options.run !== undefined ? `no audit entries for run ${options.run}\n` : 'the audit log is empty\n');
        return;
      }
      write(entries.map((entry) => `${options.json ? jsonSafe(JSON.stringify(entry)) : formatEntryLine(entry)}\n`).join(''));
    });

  return audit;
}
