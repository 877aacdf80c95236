// A gate wired to real parts: the shipped default policy, a real fsync'd audit log in a
// temp dir, in-memory backends and, on request, the real approvals service over files.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { allTools } from '../../tools/index.js';
import {
  createApprovals,
  createFileApprovalStore,
  stateFromTools,
  type Approvals,
  type ApprovalStore,
} from '../../src/approvals/index.js';
import { openFileAuditLog, readAuditEntries, type AuditLog } from '../../src/audit/index.js';
import { systemClock, type Clock } from '../../src/clock.js';
import { silentLogger } from '../../src/logger.js';
import { createFileExecutions, createGate, type Executions, type Gate } from '../../src/gate/index.js';
import { createPolicyStore, type PolicyStore } from '../../src/policy/index.js';
import { defaultPolicyDir } from '../../src/paths.js';
import { memoryBackends, type MemoryBackends } from './memory-backends.js';

export interface GateFixture {
  dir: string;
  auditFile: string;
  audit: AuditLog;
  gate: Gate;
  policy: PolicyStore;
  backends: MemoryBackends;
  /** Which calls were taken for execution: files in `dir`, or what the options gave. */
  executions: Executions;
  /** Present when the fixture was made `withApprovals`. */
  approvals: Approvals | null;
  approvalStore: ApprovalStore | null;
  entries(): ReturnType<typeof readAuditEntries>;
  cleanup(): Promise<void>;
}

export interface GateFixtureOptions {
  auditFile?: string;
  withApprovals?: boolean;
  clock?: Clock;
  policyFiles?: string[];
  /** Shared between fixtures to stand for workers of one deployment. */
  executions?: Executions;
  backends?: MemoryBackends;
}

export async function gateFixture(options: GateFixtureOptions = {}): Promise<GateFixture> {
  const dir = mkdtempSync(join(tmpdir(), 'mlops-gate-'));
  const clock = options.clock ?? systemClock;
  const auditFile = options.auditFile ?? join(dir, 'audit.jsonl');
  const audit = await openFileAuditLog({ file: auditFile, clock });
  const policy = await createPolicyStore({
    files: options.policyFiles ?? [join(defaultPolicyDir, 'default.yaml')],
    knownTools: allTools.map((t) => t.name),
  });
  const backends = options.backends ?? memoryBackends();
  const executions = options.executions ?? createFileExecutions(join(dir, 'executions'));
  const approvalStore = options.withApprovals ? createFileApprovalStore(join(dir, 'approvals')) : null;
  const approvals = approvalStore
    ? createApprovals({
        store: approvalStore,
        audit,
        rolesOf: (id) => policy.current().rolesOf(id),
        stateOf: stateFromTools(allTools, backends),
        clock,
        logger: silentLogger,
      })
    : null;
  const gate = createGate({
    tools: allTools,
    backends,
    policy: (req) => policy.evaluate(req),
    audit,
    clock,
    executions,
    ...(approvals ? { approvals } : {}),
  });
  return {
    dir,
    auditFile,
    audit,
    gate,
    policy,
    backends,
    executions,
    approvals,
    approvalStore,
    entries: () => readAuditEntries(auditFile),
    async cleanup() {
      await audit.close().catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
