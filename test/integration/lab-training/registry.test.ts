import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile, appendFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLocalRegistry, type LocalRegistry } from '../../../src/backends/local/registry.js';
import { manualClock } from '../../support/manual-clock.js';
import { describeModelRegistryContract, versionInput } from '../../contract/model-registry.contract.js';

const run = promisify(execFile);
const fixture = fileURLToPath(new URL('./fixtures/register-versions.ts', import.meta.url));
const packageRoot = fileURLToPath(new URL('../../../', import.meta.url));

describeModelRegistryContract('local lab', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'lab-registry-'));
  return {
    registry: createLocalRegistry({ dir, clock: manualClock() }),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
});

describe('local registry on disk', () => {
  let dir: string;
  let registry: LocalRegistry;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lab-registry-'));
    registry = createLocalRegistry({ dir, clock: manualClock() });
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('loses no version when two processes register at the same time', async () => {
    const startAt = String(Date.now() + 3000);
    const race = (label: string) =>
      run(process.execPath, ['--import', 'tsx', fixture, dir, 'credit-risk', '15', label, startAt], {
        cwd: packageRoot,
      });
    const [a, b] = await Promise.all([race('a'), race('b')]);
    const mine = [...JSON.parse(a.stdout), ...JSON.parse(b.stdout)] as string[];
    expect(new Set(mine).size).toBe(30);
    const listed = await registry.listVersions('credit-risk');
    expect(listed.map((v) => v.version)).toEqual(Array.from({ length: 30 }, (_, i) => String(i + 1)));
    expect(listed.filter((v) => v.trainingJobId?.startsWith('a-'))).toHaveLength(15);
    expect(await readdir(join(dir, 'credit-risk'))).not.toContain('.lock');
  });

  it('a fresh registry over the same directory sees everything a previous one wrote', async () => {
    await registry.createModel('credit-risk', 'd');
    await registry.registerVersion(versionInput('credit-risk'));
    await registry.setAlias('credit-risk', 'champion', '1', 'alice', 'ship');
    const reopened = createLocalRegistry({ dir, clock: manualClock() });
    expect((await reopened.resolveAlias('credit-risk', 'champion'))?.version).toBe('1');
    expect(await reopened.aliasHistory('credit-risk')).toHaveLength(1);
  });

  it('takes over a lock left by a process that died', async () => {
    await registry.createModel('credit-risk', 'd');
    // A pid far above pid_max on Linux cannot belong to a live process.
    await writeFile(
      join(dir, 'credit-risk', '.lock'),
      JSON.stringify({ pid: 99_999_999, host: (await import('node:os')).hostname(), at: Date.now(), token: 'dead' }),
    );
    const version = await registry.registerVersion(versionInput('credit-risk'));
    expect(version.version).toBe('1');
  });

  it('ignores a half-written version directory and a torn alias line left by a crash', async () => {
    await registry.createModel('credit-risk', 'd');
    await registry.registerVersion(versionInput('credit-risk'));
    await registry.setAlias('credit-risk', 'champion', '1', 'alice', 'ship');
    await mkdir(join(dir, 'credit-risk', 'versions', '.2.12345.deadbeef.tmp'));
    await appendFile(join(dir, 'credit-risk', 'aliases.jsonl'), '{"model":"credit-risk","alias":"chall');
    expect((await registry.listVersions('credit-risk')).map((v) => v.version)).toEqual(['1']);
    expect(await registry.aliasHistory('credit-risk')).toHaveLength(1);
    await registry.registerVersion(versionInput('credit-risk'));
    await registry.setAlias('credit-risk', 'challenger', '2', 'agent', 'canary');
    const lines = (await readFile(join(dir, 'credit-risk', 'aliases.jsonl'), 'utf8')).trim().split('\n');
    expect(lines.map((l) => JSON.parse(l).alias)).toEqual(['champion', 'challenger']);
  });

  it('refuses model names that could escape the registry directory', async () => {
    await expect(registry.createModel('../etc', 'x')).rejects.toThrow(/model name/);
    await expect(registry.getVersion('credit-risk', '../../x')).resolves.toBeUndefined();
  });
});
