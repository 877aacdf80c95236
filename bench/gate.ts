// Gate overhead: validation, risk, policy evaluation and the audit appends the gate makes,
// excluding the tool itself (backends are in memory and answer at once). Measured against
// baselines in the same run:
//   (a) policy evaluation alone vs a no-op function call (µs per call),
//   (b) a denied call through the gate (2 fsync'd appends) vs 2 plain appendFile+fsync writes,
//   (c) an executed read through the gate (4 appends) vs 4 plain writes,
//   (d) 32 concurrent calls through the gate (group commit) vs the same plain writes in sequence.
// Run: npm run bench:gate
import { mkdtempSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { allTools, NO_DATA_RISK } from '../tools/index.js';
import { openFileAuditLog } from '../src/audit/index.js';
import { defaultPolicyDir } from '../src/paths.js';
import { createGate, type GateCall } from '../src/gate/index.js';
import { createPolicyStore } from '../src/policy/index.js';
import { memoryBackends, version } from '../test/support/memory-backends.js';

const CALLS = 600;
const EVALS = 50_000;
const IN_FLIGHT = 32;
const dir = mkdtempSync(join(tmpdir(), 'mlops-bench-gate-'));

const seconds = async (fn: () => Promise<void> | void): Promise<number> => {
  const start = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - start) / 1e9;
};

async function plainWrites(file: string, count: number, line: string): Promise<number> {
  const handle = await open(file, 'a');
  const s = await seconds(async () => {
    for (let i = 0; i < count; i++) {
      await handle.appendFile(line);
      await handle.sync();
    }
  });
  await handle.close();
  return s;
}

async function main(): Promise<void> {
  const policy = await createPolicyStore({
    files: [join(defaultPolicyDir, 'default.yaml')],
    knownTools: allTools.map((t) => t.name),
  });
  const backends = memoryBackends();
  backends.versions.push(version('credit-risk', '2', 0.79, ['auc']));
  const audit = await openFileAuditLog({ file: join(dir, 'audit.jsonl') });
  const gate = createGate({ tools: allTools, backends, policy: (req) => policy.evaluate(req), audit });
  const principal = { id: 'agent:bench', roles: [] };
  const denied = (i: number): GateCall => ({
    runId: 'bench',
    callId: `d${i}`,
    principal,
    tool: 'deploy_canary',
    args: { model: 'credit-risk', version: '2', environment: 'production', trafficPercent: 5 },
  });
  const read = (i: number): GateCall => ({
    runId: 'bench',
    callId: `r${i}`,
    principal,
    tool: 'registry_query',
    args: { action: 'get_version', model: 'credit-risk', version: '1' },
  });

  // (a) policy evaluation alone
  const request = {
    principal,
    tool: { name: 'deploy_canary', ...allTools[2]!.annotations },
    environment: 'production',
    input: { trafficPercent: 25 },
    risk: {
      environment: 'production' as const,
      trafficPercent: 25,
      trafficChangePercent: 25,
      promotesToFull: false,
      qualityDelta: 0.01,
      failedQualityGates: [],
      qualityGateFailures: [],
      reversible: true,
      data: NO_DATA_RISK,
    },
  };
  let sink = 0;
  const noop = (x: number) => x + 1;
  const evalS = await seconds(() => {
    for (let i = 0; i < EVALS; i++) sink += policy.evaluate(request).decision.effect.length;
  });
  const noopS = await seconds(() => {
    for (let i = 0; i < EVALS; i++) sink = noop(sink);
  });

  // (b), (c): sequential calls through the gate vs the plain writes they imply
  const line = `${JSON.stringify({ schemaVersion: 1, seq: 1, time: new Date().toISOString(), runId: 'bench', principal: 'agent:bench', kind: 'policy.decision', data: request, prevHash: '0'.repeat(64), hash: 'f'.repeat(64) })}\n`;
  const deniedS = await seconds(async () => {
    for (let i = 0; i < CALLS; i++) await gate.call(denied(i));
  });
  const deniedBase = await plainWrites(join(dir, 'plain-b.jsonl'), CALLS * 2, line);
  const readS = await seconds(async () => {
    for (let i = 0; i < CALLS; i++) await gate.call(read(i));
  });
  const readBase = await plainWrites(join(dir, 'plain-c.jsonl'), CALLS * 4, line);

  // (d) concurrent calls: the audit log's group commit shares fsyncs between calls
  let next = 0;
  const concS = await seconds(async () => {
    const worker = async () => {
      while (next < CALLS) await gate.call(read(CALLS + next++));
    };
    await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  });
  await audit.close();

  const row = (name: string, ours: string, base: string, ratio: number) =>
    console.log(`${name.padEnd(44)} ${ours.padStart(16)} ${base.padStart(16)} ${ratio.toFixed(2).padStart(8)}`);
  console.log(`${'case'.padEnd(44)} ${'gate'.padStart(16)} ${'baseline'.padStart(16)} ${'ratio'.padStart(8)}`);
  row(
    '(a) policy evaluation, µs/call (vs no-op)',
    `${((evalS / EVALS) * 1e6).toFixed(2)} µs`,
    `${((noopS / EVALS) * 1e6).toFixed(3)} µs`,
    evalS / noopS,
  );
  row(
    '(b) denied call, calls/s (vs 2 plain fsyncs)',
    `${(CALLS / deniedS).toFixed(0)}/s`,
    `${(CALLS / deniedBase).toFixed(0)}/s`,
    CALLS / deniedS / (CALLS / deniedBase),
  );
  row(
    '(c) executed read, calls/s (vs 4 plain fsyncs)',
    `${(CALLS / readS).toFixed(0)}/s`,
    `${(CALLS / readBase).toFixed(0)}/s`,
    CALLS / readS / (CALLS / readBase),
  );
  row(
    `(d) ${IN_FLIGHT} concurrent reads, calls/s (vs 4 fsyncs)`,
    `${(CALLS / concS).toFixed(0)}/s`,
    `${(CALLS / readBase).toFixed(0)}/s`,
    CALLS / concS / (CALLS / readBase),
  );
  console.log(`(ratio > 1 means the gate is faster than the baseline; sink ${sink % 7})`);
}

try {
  await main();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
