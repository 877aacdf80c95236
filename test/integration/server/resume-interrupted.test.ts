// The embedded default keeps queued runs in memory: a run the last shutdown cut off is
// still `running` in <home>/runs, and the next start queues it again under its id and
// resumes it from its stored transcript.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { RUN_SCHEMA_VERSION, type Run } from '../../../src/agent/run.js';
import { createFileRunStore } from '../../../src/agent/run-store.js';
import {
  closeAgentProcess,
  openAgentProcess,
  resumeInterrupted,
  startWorking,
  type AgentProcess,
} from '../../../src/app/agent-process.js';
import { loadConfig } from '../../../src/app/config.js';
import { silentLogger } from '../../../src/logger.js';
import { eventually } from '../../support/cli-process.js';

let home: string;
let agent: AgentProcess | undefined;
afterEach(async () => {
  if (agent) await closeAgentProcess(agent, 5_000, silentLogger);
  agent = undefined;
  await rm(home, { recursive: true, force: true });
});

function interrupted(id: string, status: Run['status']): Run {
  const labels = {
    alertname: 'ModelDriftDetected',
    model: 'credit-risk',
    dataset: 'credit-recent',
    environment: 'production',
  };
  const trigger = {
    kind: 'alert' as const,
    principal: { id: 'agent:alertmanager', roles: [] },
    alertName: 'ModelDriftDetected',
    text: 'ModelDriftDetected firing',
    data: { status: 'firing', groupKey: 'g', labels },
  };
  // Interrupted just now: a run's wall-clock budget counts from its creation.
  const at = new Date().toISOString();
  return {
    schemaVersion: RUN_SCHEMA_VERSION,
    id,
    trigger,
    status,
    planner: 'runbook:drift-retrain',
    fallback: null,
    transcript: [{ kind: 'trigger', trigger: 'alert', text: trigger.text, data: trigger.data }],
    steps: 0,
    usage: { input: 0, output: 0 },
    answer: null,
    error: null,
    createdAt: at,
    updatedAt: at,
    endedAt: null,
  };
}

describe('a start of serve with the in-process queue', () => {
  it('resumes the runs the last shutdown left running, under their ids, and no others', async () => {
    home = await mkdtemp(join(tmpdir(), 'mlops-resume-'));
    const stored = createFileRunStore(join(home, 'runs'));
    await stored.save(interrupted('run_mk0aaaaa_0000000a', 'running'));
    await stored.save(interrupted('run_mk0bbbbb_0000000b', 'waiting_approval'));
    const config = loadConfig({ env: { MLOPS_AGENT_HOME: home, MLOPS_AGENT_LLM: 'runbook' }, cwd: home });
    agent = await openAgentProcess(config, silentLogger, { executesRuns: true });
    startWorking(agent, 2);
    expect(await resumeInterrupted(agent, silentLogger)).toBe(1);
    const run = await eventually('the interrupted run to end', async () => {
      const r = await stored.get('run_mk0aaaaa_0000000a');
      return r && r.status !== 'running' ? r : undefined;
    });
    // The lab has no data set: the runbook's check fails and it stops there, failed.
    expect(run).toMatchObject({ status: 'failed', planner: 'runbook:drift-retrain' });
    expect(run.transcript.map((i) => i.kind)).toEqual(['trigger', 'plan', 'result', 'answer']);
    // A run waiting for approval is the approval path's to resume, not a restart's.
    expect((await stored.get('run_mk0bbbbb_0000000b'))?.status).toBe('waiting_approval');
  });
});
