// A gate wired to real parts: the shipped default policy, a real fsync'd audit log in a
// temp dir, and in-memory backends.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { allTools } from '../../tools/index.js';
import { openFileAuditLog, readAuditEntries, type AuditLog } from '../../src/audit/index.js';
import { createGate, createPolicyStore, type Gate } from '../../src/policy/index.js';
import { defaultPolicyDir } from '../../src/paths.js';
import { memoryBackends, type MemoryBackends } from './memory-backends.js';

export interface GateFixture {
  dir: string;
  auditFile: string;
  audit: AuditLog;
  gate: Gate;
  backends: MemoryBackends;
  entries(): ReturnType<typeof readAuditEntries>;
  cleanup(): Promise<void>;
}

export async function gateFixture(options: { auditFile?: string } = {}): Promise<GateFixture> {
  const dir = mkdtempSync(join(tmpdir(), 'mlops-gate-'));
  const auditFile = options.auditFile ?? join(dir, 'audit.jsonl');
  const audit = await openFileAuditLog({ file: auditFile });
  const policy = await createPolicyStore({ files: [join(defaultPolicyDir, 'default.yaml')], knownTools: allTools.map((t) => t.name) });
  const backends = memoryBackends();
  const gate = createGate({ tools: allTools, backends, policy: (req) => policy.evaluate(req), audit });
  return {
    dir,
    auditFile,
    audit,
    gate,
    backends,
    entries: () => readAuditEntries(auditFile),
    async cleanup() {
      await audit.close().catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
