import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { openFileAuditLog, readAuditEntries, verifyAuditFile } from '../../../src/audit/index.js';

const child = fileURLToPath(new URL('./append-until-killed.ts', import.meta.url));
const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** Starts the writer, waits until it reports `atLeast` resolved appends, then SIGKILLs it. */
function runAndKill(file: string, atLeast: number): Promise<number[]> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, ['--import', 'tsx', child, file], { stdio: ['ignore', 'pipe', 'pipe'] });
    const resolved: number[] = [];
    let buffered = '';
    let stderr = '';
    proc.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    proc.stdout.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop()!;
      for (const line of lines) resolved.push(Number(line));
      if (resolved.length >= atLeast) proc.kill('SIGKILL');
    });
    proc.on('error', reject);
    proc.on('exit', (code, signal) => {
      if (signal === 'SIGKILL') resolve(resolved);
      else reject(new Error(`writer exited early with code ${code}: ${stderr}`));
    });
  });
}

describe('an audit log whose writer process is killed mid-stream', () => {
  it('keeps every append that resolved, and reopens into a chain that verifies', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mlops-'));
    dirs.push(dir);
    const file = join(dir, 'audit.jsonl');
    for (let round = 0; round < 3; round++) {
      const resolved = await runAndKill(file, 300);
      // Reopening recovers whatever the kill left (a torn tail is set aside and recorded).
      const log = await openFileAuditLog({ file });
      await log.close();
      const result = await verifyAuditFile(file);
      expect(result.ok).toBe(true);
      const onDisk = new Set((await readAuditEntries(file)).map((e) => e.seq));
      expect(resolved.filter((seq) => !onDisk.has(seq))).toEqual([]);
    }
  });
});
