// `mlops-agent audit verify` (the built command) on a log large enough to be checked on
// worker threads, one range per core: the same answers as a single pass.
import { mkdtemp, rm } from 'node:fs/promises';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openFileAuditLog } from '../../src/audit/index.js';
import { PARALLEL_MIN_BYTES } from '../../src/audit/chain-range.js';
import { runCli } from '../support/run-cli.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('audit verify on a large file log (worker threads)', () => {
  it('finds it intact, then names the first edited entry in the second half', async () => {
    const home = await mkdtemp(join(tmpdir(), 'mlops-verify-large-'));
    dirs.push(home);
    const file = join(home, 'audit.jsonl');
    const log = await openFileAuditLog({ file });
    const pad = 'x'.repeat(600);
    const pending = [];
    for (let i = 1; i <= 14_000; i++)
      pending.push(
        log.append({ runId: `run-${i % 7}`, principal: 'user:alice', kind: 'planner.turn', data: { i, pad } }),
      );
    await Promise.all(pending);
    await log.close();
    expect(statSync(file).size).toBeGreaterThan(PARALLEL_MIN_BYTES);

    const intact = await runCli(['audit', 'verify', '--file', file], { cwd: home, env: { MLOPS_AGENT_HOME: home } });
    expect(intact.stderr).toBe('');
    expect(intact.code).toBe(0);
    expect(intact.stdout).toMatch(/^audit log intact: 14000 entries, last hash [0-9a-f]{64}\n/);

    const lines = readFileSync(file, 'utf8').split('\n');
    lines[10_499] = lines[10_499]!.replace('"i":10500', '"i":10501');
    writeFileSync(file, lines.join('\n'));
    const broken = await runCli(['audit', 'verify', '--file', file], { cwd: home, env: { MLOPS_AGENT_HOME: home } });
    expect(broken.code).toBe(3);
    expect(broken.stdout).toMatch(
      /^audit log BROKEN at seq 10500 \(line 10500\): the entry hash does not match its contents/,
    );
    expect(broken.stdout).toContain('10499 entries before it are intact');
  }, 120_000);
});
