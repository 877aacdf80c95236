// trigger_retrain, unchanged, through the real gate and loop on backends opened from
// config with a `command` trainer: the run waits for the command's job and reports the
// version it printed; the job is found again under the call's idempotency key.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allTools } from '../../../tools/index.js';
import { createFileRunStore } from '../../../src/agent/run-store.js';
import { openFileAuditLog, type AuditLog } from '../../../src/audit/index.js';
import { openBackends, type OpenedBackends } from '../../../src/backends/from-config.js';
import { generateCreditRows, writeDataset } from '../../../src/backends/local/index.js';
import { backendsSchema } from '../../../src/backends/settings.js';
import { silentLogger } from '../../../src/logger.js';
import { defaultPolicyDir } from '../../../src/paths.js';
import { createFileExecutions, createGate } from '../../../src/gate/index.js';
import { createPolicyStore } from '../../../src/policy/index.js';
import { daysAgo } from '../../support/dates.js';
import { answer, call, scriptedPlanner } from '../../support/scripted-planner.js';
import { testAgent, testLimits } from '../../support/agent-fixture.js';

const script = fileURLToPath(new URL('../../support/train-command.mjs', import.meta.url));
let home: string;
let opened: OpenedBackends;
let audit: AuditLog;

beforeAll(async () => {
  home = mkdtempSync(join(tmpdir(), 'retrain-command-'));
  const backends = backendsSchema.parse({
    trainer: 'command',
    commandTrainer: {
      argv: [
        process.execPath,
        script,
        '--model',
        '{model}',
        '--dataset',
        '{dataset}',
        '--out',
        join(home, 'registered'),
      ],
    },
  });
  opened = await openBackends(
    {
      home,
      qualityGates: { minAuc: 0.82, maxCalibrationError: 0.05, maxP99LatencyMs: 50, maxParityGap: 0.05 },
      backends,
    },
    { logger: silentLogger, env: { PATH: process.env.PATH } },
  );
  await writeDataset(
    opened.lab.dirs.datasets,
    'credit-train',
    generateCreditRows({ seed: 41, rows: 2000, startDate: daysAgo(60), days: 60 }),
  );
  audit = await openFileAuditLog({ file: join(home, 'audit.jsonl') });
});

afterAll(async () => {
  await audit?.close();
  await opened?.close();
  rmSync(home, { recursive: true, force: true });
});

describe('trigger_retrain on a command trainer', () => {
  it('runs the command through the gate, waits for it and reports the version it registered', async () => {
    const policy = await createPolicyStore({
      files: [join(defaultPolicyDir, 'default.yaml')],
      knownTools: allTools.map((t) => t.name),
    });
    const executions = createFileExecutions(join(home, 'executions'));
    const gate = createGate({
      tools: allTools,
      backends: opened.backends,
      policy: (req) => policy.evaluate(req),
      audit,
      executions,
    });
    const agent = testAgent({
      gate,
      audit,
      runs: createFileRunStore(join(home, 'runs')),
      plannerFor: () =>
        scriptedPlanner([
          call('check_data_quality', { dataset: 'credit-train' }),
          call('trigger_retrain', { model: 'credit-risk', dataset: 'credit-train', params: { epochs: 5 } }),
          answer('retrained'),
        ]),
      limits: { ...testLimits, maxWallMs: 120_000 },
    });
    const run = await agent.start(
      { kind: 'chat', principal: { id: 'user:alice', roles: [] }, text: 'retrain credit-risk', data: null },
      'run_command_1',
    );
    await executions.close();
    const retrain = run.transcript.find((i) => i.kind === 'result' && i.name === 'trigger_retrain');
    const waited = run.transcript.find(
      (i) => i.kind === 'wait' && retrain?.kind === 'result' && i.callId === retrain.callId,
    );
    const outcome = (
      waited?.kind === 'wait' ? waited.outcome : retrain?.kind === 'result' ? retrain.outcome : null
    ) as { status: string; output?: { jobId: string; status: string; version: string | null } } | null;
    expect(outcome).toMatchObject({ status: 'executed', output: { status: 'succeeded', version: '1' } });
    const jobId = outcome!.output!.jobId;
    expect(jobId).toMatch(/^ext-/);
    expect(await opened.backends.trainer.get(jobId)).toMatchObject({ status: 'succeeded', version: '1' });
  });
});
