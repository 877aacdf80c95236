import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { keyIdOf, loadPublicKey, loadSigningKey, openFileAuditLog } from '../../../src/audit/index.js';
import { auditCommand } from '../../../src/cli/audit-command.js';
import { useTempDir } from './temp-dir.js';
import { readLines, writeLines, writeLog } from './write-log.js';

const tempDir = useTempDir();

afterEach(() => {
  process.exitCode = undefined;
});

/** Runs `audit <args>` with the configured audit file set to `auditFile`, returning what it printed. */
async function run(auditFile: string, args: string[]): Promise<string> {
  let out = '';
  const command = auditCommand(() => ({ auditFile }));
  command.configureOutput({ writeOut: (text) => (out += text) });
  await command.parseAsync(args, { from: 'user' });
  return out;
}

describe('mlops-agent audit verify', () => {
  it('prints the entry count and last hash of an intact log and leaves the exit code at 0', async () => {
    const file = join(tempDir(), 'audit.jsonl');
    const entries = await writeLog(file, 3);
    const out = (await run(file, ['verify'])).split('\n');
    expect(out[0]).toBe(`audit log intact: 3 entries, last hash ${entries[2]!.hash}`);
    expect(out[1]).toBe(`File: ${file}`);
    // Written without a signing key: its checkpoints are position marks and prove nothing.
    expect(out).toContain('checkpoints: 1 (1 unsigned)');
    expect(out).toContain(
      'not yet covered: entries 1 to 3 are covered by no signed checkpoint; they chain together but are not proven (removing or replacing them would go unnoticed)',
    );
    expect(process.exitCode).toBeUndefined();
  });

  it('prints where the chain breaks and sets exit code 3', async () => {
    const file = join(tempDir(), 'audit.jsonl');
    await writeLog(file, 4);
    const lines = readLines(file);
    lines.splice(2, 1);
    writeLines(file, lines);
    const out = await run(file, ['verify']);
    expect(out).toMatch(/^audit log BROKEN at seq 3 \(line 3\): expected seq 3 but found seq 4/);
    expect(out).toContain('2 entries before it are intact');
    expect(process.exitCode).toBe(3);
  });

  it('checks the file given by --file instead of the configured one', async () => {
    const file = join(tempDir(), 'other.jsonl');
    await writeLog(file, 2);
    const out = await run(join(tempDir(), 'configured-but-absent.jsonl'), ['verify', '--file', file]);
    expect(out).toMatch(/^audit log intact: 2 entries/);
  });

  it('says clearly when the audit file does not exist', async () => {
    const missing = join(tempDir(), 'audit.jsonl');
    await expect(run(missing, ['verify'])).rejects.toMatchObject({
      code: 'not_found',
      message: expect.stringContaining(`${missing} does not exist`),
    });
  });
});

describe('mlops-agent audit tail', () => {
  it('prints readable lines: seq, time, kind, run, principal and a summary of data', async () => {
    const file = join(tempDir(), 'audit.jsonl');
    await writeLog(file, 5);
    const out = await run(file, ['tail', '-n', '2']);
    const lines = out.trimEnd().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/^SEQ {2}TIME {22}KIND {10}RUN {4}BY {5}DATA$/);
    expect(lines[1]).toMatch(/^ {2}4 {2}2026-01-01T00:00:04\.000Z {2}planner\.turn {2}run-0 {2}alice {2}step=4$/);
    expect(lines[2]).toMatch(/^ {2}5 .* run-1 {2}alice {2}step=5$/);
  });

  it('filters by run and prints JSON lines exactly as stored with --json', async () => {
    const file = join(tempDir(), 'audit.jsonl');
    await writeLog(file, 6);
    const stored = readLines(file);
    const out = await run(file, ['tail', '--run', 'run-0', '--json']);
    expect(out).toBe(`${[stored[1], stored[3], stored[5]].join('\n')}\n`);
  });

  it('summarises nested and long data on one line', async () => {
    const file = join(tempDir(), 'audit.jsonl');
    const log = await openFileAuditLog({ file });
    await log.append({
      runId: null,
      principal: 'ops',
      kind: 'policy.decision',
      data: { effect: 'deny', reason: 'canary above 5%', args: { percent: 50 }, note: 'y'.repeat(300) },
    });
    await log.close();
    const out = await run(file, ['tail']);
    // Stored in canonical (sorted) key order; the summary lists short values first, nested ones after.
    expect(out).toMatch(/policy\.decision {2}- {4}ops {2}effect=deny reason="canary above 5%" note=yyy/);
    const other = join(tempDir(), 'audit.jsonl');
    const log2 = await openFileAuditLog({ file: other });
    await log2.append({
      runId: 'r',
      principal: 'ops',
      kind: 'execution.finished',
      data: { callId: 'c1', tool: 'deploy_canary', summary: 'promoted', output: { big: 'z'.repeat(400) } },
    });
    await log2.close();
    expect(await run(other, ['tail'])).toContain(
      'ops  callId=c1 summary=promoted tool=deploy_canary output={"big":"zzz',
    );
    expect(out.trimEnd().endsWith('…')).toBe(true);
    expect(out.split('\n')).toHaveLength(3);
    // -o wide: the whole summary, uncut.
    expect(await run(other, ['tail', '-o', 'wide'])).toContain(`output={"big":"${'z'.repeat(400)}"}`);
  });

  it('says so when there is nothing to show', async () => {
    const file = join(tempDir(), 'audit.jsonl');
    writeFileSync(file, '');
    expect(await run(file, ['tail'])).toBe('the audit log is empty\n');
    await writeLog(file, 1);
    expect(await run(file, ['tail', '--run', 'run-0'])).toBe('no audit entries for run run-0\n');
  });

  it('rejects a count that is not a positive whole number', async () => {
    const file = join(tempDir(), 'audit.jsonl');
    await writeLog(file, 1);
    let err = '';
    const command = auditCommand(() => ({ auditFile: file }));
    command.exitOverride().configureOutput({ writeErr: (text) => (err += text), writeOut: () => undefined });
    for (const sub of command.commands) sub.exitOverride().configureOutput({ writeErr: (text) => (err += text) });
    await expect(command.parseAsync(['tail', '-n', 'ten'], { from: 'user' })).rejects.toThrow(/positive whole number/);
    expect(err).toContain('expected a positive whole number of entries');
  });
});

describe('mlops-agent audit keygen', () => {
  it('writes a private key only its owner can read and a public key, and never overwrites them', async () => {
    const dir = tempDir();
    const out = join(dir, 'keys', 'audit.key');
    const printed = await run(join(dir, 'audit.jsonl'), ['keygen', '--out', out]);
    expect(printed).toMatch(
      /^wrote .*audit\.key \(private, mode 0600\) and .*audit\.key\.pub \(public\); key id [0-9a-f]{16}\n/,
    );
    expect(printed).toContain(`signingKeyFile: ${out}`);
    expect(statSync(out).mode & 0o777).toBe(0o600);
    const signer = loadSigningKey(out);
    expect(keyIdOf(loadPublicKey(`${out}.pub`))).toBe(signer.keyId);
    const before = readFileSync(out, 'utf8');
    await expect(run(join(dir, 'audit.jsonl'), ['keygen', '--out', out])).rejects.toMatchObject({
      code: 'input_invalid',
      message: expect.stringContaining('already exists; keygen never overwrites a key'),
    });
    expect(readFileSync(out, 'utf8')).toBe(before);
  });
});

describe('mlops-agent audit verify with checkpoints', () => {
  it('reports truncation below a signed checkpoint, naming it, and exits 3', async () => {
    const dir = tempDir();
    const file = join(dir, 'audit.jsonl');
    const keyFile = join(dir, 'audit.key');
    await run(file, ['keygen', '--out', keyFile]);
    const log = await openFileAuditLog({ file, checkpoints: { signer: loadSigningKey(keyFile), everyMs: 0 } });
    for (let i = 0; i < 6; i++) await log.append({ runId: 'r', principal: 'p', kind: 'k', data: { i } });
    await log.close();
    writeLines(file, readLines(file).slice(0, 3));
    const out = await run(file, ['verify', '--public-key', `${keyFile}.pub`]);
    expect(out).toMatch(/^audit log intact: 3 entries/);
    expect(out).toMatch(
      /CONTRADICTED: checkpoint #1 \(shutdown, signed by key [0-9a-f]{16}, .*\) at seq 6: the log ends at seq 3: entries 4 to 6 or more were removed/,
    );
    expect(out).toContain('proven: nothing');
    expect(process.exitCode).toBe(3);
  });

  it('says what verify proves in its help', async () => {
    const command = auditCommand(() => ({ auditFile: 'x' }));
    const verify = command.commands.find((c) => c.name() === 'verify')!;
    let help = '';
    verify.configureOutput({ writeOut: (t) => (help += t) });
    verify.outputHelp();
    expect(help).toContain('Not proven: entries after the last signed checkpoint ("not yet covered")');
    expect(help).toContain('Entries cut off the end, a chain rewritten with recomputed hashes');
  });
});
