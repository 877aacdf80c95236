// Private by default: every directory the agent creates under its home is 0700 and every
// file 0600 (audit log, runs, approvals, executions, the queue journal, the lab), whatever
// the process umask; a home that others can read gets a warning at start. Each writer is
// the real one, writing real files in a temp home, under umask 000 so nothing but the
// modes the code asks for can keep other users out.
import { chmodSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFileRunStore } from '../../../src/agent/run-store.js';
import { createFileApprovalStore } from '../../../src/approvals/index.js';
import { openFileAuditLog } from '../../../src/audit/index.js';
import { createDeploymentStore } from '../../../src/backends/local/deployment-store.js';
import { createJobStore } from '../../../src/backends/local/job-store.js';
import { generateCreditRows, writeDataset } from '../../../src/backends/local/index.js';
import { createLocalRegistry } from '../../../src/backends/local/registry.js';
import { systemClock } from '../../../src/clock.js';
import { loadConfig } from '../../../src/app/config.js';
import { acquireFileLock } from '../../../src/file-lock.js';
import { openQueueJournal } from '../../../src/intake/index.js';
import { createFileExecutions } from '../../../src/gate/index.js';
import { preparePrivateHome } from '../../../src/private-home.js';
import { createRuntime } from '../../../src/app/runtime.js';
import { silentLogger } from '../../../src/logger.js';
import { sampleApproval } from '../../contract/approval-store.contract.js';
import { versionInput } from '../../contract/model-registry.contract.js';
import { memoryBackends } from '../../support/memory-backends.js';

const root = mkdtempSync(join(tmpdir(), 'mlops-private-'));
let umask: number;
beforeAll(() => {
  umask = process.umask(0);
});
afterAll(() => {
  process.umask(umask);
  rmSync(root, { recursive: true, force: true });
});

/** Every entry under `dir` with its permission bits, relative to `dir`. */
function modes(dir: string): { path: string; kind: 'dir' | 'file'; mode: string }[] {
  const out: { path: string; kind: 'dir' | 'file'; mode: string }[] = [];
  const walk = (d: string, rel: string) => {
    for (const name of readdirSync(d)) {
      const full = join(d, name);
      const st = statSync(full);
      const path = rel ? `${rel}/${name}` : name;
      out.push({ path, kind: st.isDirectory() ? 'dir' : 'file', mode: (st.mode & 0o777).toString(8) });
      if (st.isDirectory()) walk(full, path);
    }
  };
  walk(dir, '');
  return out;
}

describe('the data directory is private by default', () => {
  it('creates every directory 0700 and every file 0600: audit, runs, approvals, executions, queue, lab', async () => {
    const home = join(root, 'home');
    const config = loadConfig({ env: { MLOPS_AGENT_HOME: home, MLOPS_AGENT_LLM: 'runbook' }, cwd: root });
    // The runtime makes the home, the audit log (and its writer lock), approvals and executions.
    const runtime = await createRuntime({ config, logger: silentLogger, backends: memoryBackends() });
    try {
      const outcome = await runtime.gate.call({
        runId: 'run_a',
        callId: 'call_1',
        principal: { id: 'agent:alerts', roles: [] },
        tool: 'deploy_canary',
        args: { model: 'credit-risk', version: '1', environment: 'production', trafficPercent: 25 },
      });
      expect(outcome.status).toBe('pending_approval');
      const rollback = await runtime.gate.call({
        runId: 'run_a',
        callId: 'call_2',
        principal: { id: 'agent:alerts', roles: [] },
        tool: 'rollback',
        args: { model: 'credit-risk', environment: 'production', reason: 'test' },
      });
      expect(rollback.status).not.toBe('invalid');
      await runtime.approvals.claimOnce('slack:action:U1:approve:x', 60_000);
      await createFileRunStore(join(home, 'runs')).save({
        schemaVersion: 1,
        id: 'run_a',
        trigger: { kind: 'chat', principal: { id: 'user:alice', roles: [] }, text: 'hi', data: null },
        status: 'running',
        planner: 'runbook:x',
        fallback: null,
        transcript: [],
        steps: 0,
        usage: { input: 0, output: 0 },
        answer: null,
        error: null,
        createdAt: '2026-01-01T00:00:00.000Z',
        updatedAt: '2026-01-01T00:00:00.000Z',
        endedAt: null,
      });
    } finally {
      await runtime.close();
    }
    const approvals = createFileApprovalStore(join(home, 'approvals'));
    const approval = sampleApproval();
    await approvals.create(approval);
    await approvals.transition(approval.id, async (a) => ({ ...a, status: 'denied' }));
    await createFileExecutions(join(home, 'executions')).take({
      key: 'direct:x',
      runId: null,
      callId: 'x',
      principal: { id: 'user:alice', roles: [] },
      tool: 'rollback',
      argsHash: 'h',
      decision: { effect: 'allow', ruleId: 'r', reason: 'ok', policy: 'p' },
      risk: null as never,
      approvalId: null,
      takenAt: '2026-01-01T00:00:00.000Z',
      end: null,
    });
    const journal = openQueueJournal(join(home, 'queue'), () => undefined);
    await journal.add({
      runId: 'run_mx5q_0000abcd',
      trigger: null,
      dedupeKey: undefined,
      queuedAt: '2026-01-01T00:00:00.000Z',
    });
    await journal.hold('run_mx5q_0000abcd', 'alert:x');
    // The lab: data sets, the registry (with its lock and alias log), training jobs, deployments.
    await writeDataset(
      join(home, 'lab', 'datasets'),
      'credit-recent',
      generateCreditRows({ seed: 1, rows: 20, startDate: '2026-01-01', days: 2 }),
    );
    const registry = createLocalRegistry({ dir: join(home, 'lab', 'registry'), clock: systemClock });
    await registry.createModel('credit-risk', 'test');
    await registry.registerVersion(versionInput('credit-risk'));
    await registry.setAlias('credit-risk', 'champion', '1', 'user:alice', 'test');
    await createJobStore(join(home, 'lab', 'jobs')).write({ jobId: 'job-1' } as never);
    const deployments = createDeploymentStore(join(home, 'lab', 'deployments'));
    const split = {
      model: 'credit-risk',
      environment: 'production' as const,
      stableVersion: '1',
      canaryVersion: null,
      canaryPercent: 0,
      lastKnownGoodVersion: '1',
    };
    await deployments.commit(
      { schemaVersion: 1, entries: {} },
      {
        at: '2026-01-01T00:00:00.000Z',
        model: 'credit-risk',
        environment: 'production',
        action: 'serve',
        by: 'user:alice',
        reason: 'test',
        split,
      },
    );

    expect((statSync(home).mode & 0o777).toString(8)).toBe('700');
    const found = modes(home);
    for (const expected of [
      'audit.jsonl',
      'approvals',
      'executions',
      'runs',
      'queue',
      'lab/datasets',
      'lab/registry',
      'lab/jobs',
      'lab/deployments',
      'approvals/once',
    ]) {
      expect(
        found.map((f) => f.path),
        expected,
      ).toContain(expected);
    }
    expect(found.filter((f) => f.path.startsWith('queue/')).length).toBe(2);
    const open = found.filter((f) => f.mode !== (f.kind === 'dir' ? '700' : '600'));
    expect(open).toEqual([]);
  });

  it('warns at start about a home that others can read, saying how to close it, and leaves its mode alone', async () => {
    const home = join(root, 'shared-home');
    await preparePrivateHome(home, silentLogger);
    chmodSync(home, 0o755);
    const warnings: string[] = [];
    const logger = { ...silentLogger, warn: (_obj: unknown, msg?: string) => void warnings.push(String(msg)) };
    const config = loadConfig({ env: { MLOPS_AGENT_HOME: home, MLOPS_AGENT_LLM: 'runbook' }, cwd: root });
    const runtime = await createRuntime({ config, logger: logger as typeof silentLogger, backends: memoryBackends() });
    await runtime.close();
    expect(warnings).toContain(
      `the data directory ${home} can be read by other users of this machine (mode 755); it holds the audit log, runs and approvals: run chmod 700 ${home}`,
    );
    expect((statSync(home).mode & 0o777).toString(8)).toBe('755');
    chmodSync(home, 0o700);
    expect(await preparePrivateHome(home, logger as typeof silentLogger)).toBeNull();
  });

  it('opens the audit log on its own (as audit verify and workers do) with private modes too', async () => {
    const file = join(root, 'elsewhere', 'nested', 'audit.jsonl');
    const audit = await openFileAuditLog({ file });
    await audit.append({ runId: null, principal: 'test', kind: 'test', data: {} });
    await audit.close();
    expect(modes(join(root, 'elsewhere')).map((f) => `${f.path} ${f.mode}`)).toEqual([
      'nested 700',
      'nested/audit.jsonl 600',
      'nested/audit.jsonl.checkpoints 600',
    ]);
    // Lock files name their owner's pid and host: private too.
    const lock = await acquireFileLock(join(root, 'elsewhere', 'nested', 'x.lock'));
    expect((statSync(join(root, 'elsewhere', 'nested', 'x.lock')).mode & 0o777).toString(8)).toBe('600');
    await lock.release();
  });
});
