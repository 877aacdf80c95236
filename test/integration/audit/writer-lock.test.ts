import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { openFileAuditLog, verifyAuditFile } from '../../../src/audit/index.js';

const child = fileURLToPath(new URL('./hold-open.ts', import.meta.url));
let dir: string;
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function holdOpen(file: string) {
  const proc = spawn(process.execPath, ['--import', 'tsx', child, file], { stdio: ['ignore', 'pipe', 'pipe'] });
  const ready = new Promise<void>((resolve, reject) => {
    proc.stdout.on('data', (d: Buffer) => d.toString().includes('open') && resolve());
    proc.on('exit', (code) => reject(new Error(`child exited with ${code}`)));
  });
  return { proc, ready };
}

describe('one writer per audit file', () => {
  it('refuses a second process while the first writes, and takes over once the first is dead', async () => {
    dir = mkdtempSync(join(tmpdir(), 'mlops-audit-lock-'));
    const file = join(dir, 'audit.jsonl');
    const { proc, ready } = holdOpen(file);
    await ready;
    await expect(openFileAuditLog({ file })).rejects.toThrow(/being written by another mlops-agent process/);

    const exited = new Promise((resolve) => proc.on('exit', resolve));
    proc.kill('SIGKILL');
    await exited;
    const log = await openFileAuditLog({ file });
    await log.append({ runId: null, principal: 'test:parent', kind: 'test.took_over', data: {} });
    await log.close();
    expect(await verifyAuditFile(file)).toMatchObject({ ok: true, entries: 2 });
  });
});
