// The kill matrix, run by kill-matrix-serve.test.ts and kill-matrix-bullmq.test.ts (two
// files, so the halves run side by side). Exactly once across crashes, with the built
// command and real processes: a drift alert
// starts a retrain-then-canary run (the drift-retrain runbook), and the process executing
// it is SIGKILLed right after one audit boundary of the training call, restarted, SIGKILLed
// after the same boundary of the canary call, and restarted again. Whatever the boundary,
// with the in-process queue (serve) or BullMQ and `worker`, the run ends parked on the
// promotion's approval with exactly one training job, one registered version and one
// canary start, and `audit verify` passes.
import { cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readAuditEntries } from '../../src/audit/index.js';
import { generateCreditRows, openLocalLab, writeDataset } from '../../src/backends/local/index.js';
import { loadConfig } from '../../src/app/config.js';
import { silentLogger } from '../../src/logger.js';
import { REDIS_URL, uniqueNames, wipe } from '../integration/intake/redis-helpers.js';
import { eventually, startCli, type CliProcess } from '../support/cli-process.js';
import { runCli } from '../support/run-cli.js';

const TOKEN = 'kill-matrix-e2e-token-0123456789';
const AUTH = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
const PRELOAD = fileURLToPath(new URL('../support/kill-after-audit.mjs', import.meta.url));
/** The audit boundaries the process is killed after, for the training call and then for the canary call. */
const BOUNDARIES = [
  'call.proposed',
  'policy.decision',
  'execution.started',
  'execution.waiting',
  'run.parked',
  'execution.finished',
] as const;
/** Each case runs this many times (KILL_MATRIX_ROUNDS); the first kill of a round is timed like the last. */
const ROUNDS = Number(process.env.KILL_MATRIX_ROUNDS ?? 2);
// A 5% canary is one step; with no traffic its analysis comes at 300 ms and it pauses at its target.
// Each case kills the process executing a run twice; with BullMQ both may land on one job, so it may be taken over twice.
const CONFIG = [
  'worker:',
  '  lockDurationMs: 1000',
  '  maxStalls: 2',
  'lab:',
  '  canary:',
  '    steps: [5, 100]',
  '    stepTimeoutMs: 300',
  '',
].join('\n');
const ALERT = {
  name: 'ModelDriftDetected',
  labels: { model: 'credit-risk', dataset: 'credit-recent', environment: 'production' },
  summary: 'PSI 0.31 on credit_utilization',
};

const dirs: string[] = [];
const running: CliProcess[] = [];
let template = '';

async function tempDir(tag: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `mlops-kill-${tag}-`));
  dirs.push(dir);
  return dir;
}

/** A lab home with credit-risk v1 trained and serving production, and the data the runbook checks and trains on. */
async function labTemplate(): Promise<string> {
  const home = await tempDir('template');
  await writeFile(join(home, 'mlops-agent.yaml'), CONFIG);
  const lab = await openLocalLab({
    config: loadConfig({ env: { MLOPS_AGENT_HOME: home }, cwd: home }),
    logger: silentLogger,
  });
  try {
    // Dated from today: the credit contract's freshness rule holds, so the runbook retrains on valid data.
    const daysAgo = (n: number) => new Date(Date.now() - n * 86_400_000).toISOString().slice(0, 10);
    await writeDataset(
      lab.dirs.datasets,
      'credit-train',
      generateCreditRows({ seed: 11, rows: 3000, startDate: daysAgo(90), days: 60 }),
    );
    await writeDataset(
      lab.dirs.datasets,
      'credit-recent',
      generateCreditRows({ seed: 12, rows: 3000, startDate: daysAgo(30), days: 29 }),
    );
    const job = await lab.trainer.start({
      model: 'credit-risk',
      dataset: 'credit-train',
      params: { epochs: 20 },
      requestedBy: 'operator',
    });
    const trained = await lab.trainer.waitFor(job.jobId, { timeoutMs: 60_000 });
    if (trained.version !== '1') throw new Error(`the template's v1 did not train: ${JSON.stringify(trained)}`);
    await lab.registry.setAlias('credit-risk', 'champion', '1', 'operator', 'the model in production');
    await lab.deployer.serve('credit-risk', 'production', '1');
  } finally {
    await lab.close();
  }
  return home;
}

interface Setup {
  /** Where the process that executes runs keeps its lab, audit log and (in-process) runs. */
  home: string;
  /** Starts the process that executes runs; `kill` arms the preload. */
  executor(kill: { kind: string; tool: string } | null): CliProcess;
  /** The URL of the serve that takes alerts and answers /v1/runs (started once, or with each executor). */
  url(p: CliProcess): Promise<string>;
  cleanup(): Promise<void>;
}

function start(
  args: string[],
  home: string,
  env: Record<string, string>,
  kill: { kind: string; tool: string } | null,
): CliProcess {
  const p = startCli(args, {
    cwd: home,
    env: {
      MLOPS_AGENT_HOME: home,
      MLOPS_AGENT_API_TOKEN: TOKEN,
      MLOPS_AGENT_LLM: 'runbook',
      MLOPS_AGENT_WORKER_CONCURRENCY: '1',
      ...env,
      ...(kill ? { MLOPS_TEST_KILL_AFTER: JSON.stringify(kill) } : {}),
    },
    nodeArgs: kill ? ['--import', PRELOAD] : [],
  });
  running.push(p);
  return p;
}

const serveLine = /serving on (http:\/\/127\.0\.0\.1:\d+)/;

async function inProcess(): Promise<Setup> {
  const home = await tempDir('serve');
  await cp(template, home, { recursive: true });
  return {
    home,
    executor: (kill) => start(['serve', '--port', '0'], home, {}, kill),
    url: async (p) => (await p.line(serveLine))[1]!,
    cleanup: async () => undefined,
  };
}

async function bullmq(): Promise<Setup> {
  const home = await tempDir('worker');
  await cp(template, home, { recursive: true });
  const serveHome = await tempDir('intake');
  await writeFile(join(serveHome, 'mlops-agent.yaml'), 'worker:\n  inProcess: false\n');
  const { prefix } = uniqueNames();
  const redis = { REDIS_URL, MLOPS_AGENT_QUEUE_PREFIX: prefix };
  const serve = start(['serve', '--port', '0'], serveHome, redis, null);
  const url = (await serve.line(serveLine))[1]!;
  return {
    home,
    executor: (kill) => start(['worker'], home, redis, kill),
    url: async () => url,
    async cleanup() {
      await serve.stop();
      await wipe(prefix, 'runs');
    },
  };
}

async function killedAt(p: CliProcess, what: string): Promise<void> {
  const timer = setTimeout(() => p.child.kill('SIGKILL'), 90_000);
  await p.exited;
  clearTimeout(timer);
  if (!p.stderr.includes('kill-after-audit:'))
    throw new Error(
      `the process was not killed ${what} (it ran 90 s without reaching it); stderr: ${p.stderr.slice(-3000)}`,
    );
  expect(p.child.signalCode).toBe('SIGKILL');
}

async function runOf(
  url: string,
  runId: string,
): Promise<{
  status: string;
  transcript: { kind: string; name?: string; callId?: string; outcome?: { status: string } }[];
}> {
  return (await (await fetch(`${url}/v1/runs/${runId}`, { headers: AUTH })).json()) as never;
}

/**
 * The matrix for one queue: each boundary, ROUNDS times. Two files call it (serve, BullMQ),
 * so the two halves run side by side.
 */
export function killMatrix(queue: 'serve' | 'bullmq'): void {
  const [name, setup] =
    queue === 'serve'
      ? (['the in-process queue (serve)', inProcess] as const)
      : (['BullMQ and a worker', bullmq] as const);

  beforeAll(async () => {
    template = await labTemplate();
  }, 120_000);

  afterAll(async () => {
    for (const p of running) {
      if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
      await p.exited;
    }
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  describe(`a retrain-then-canary run SIGKILLed at each audit boundary, with ${name}`, () => {
    const cases = BOUNDARIES.flatMap((kind) =>
      Array.from({ length: ROUNDS }, (_, round) => [kind, round + 1] as const),
    );
    it.each(cases)(
      'after %s (round %i): one training job, one canary start, no promotion asked for an unjudged canary (left for a person), audit intact',
      async (kind) => {
        const s = await setup();
        try {
          const first = s.executor({ kind, tool: 'trigger_retrain' });
          const url = await s.url(first);
          const res = await fetch(`${url}/v1/alerts`, { method: 'POST', headers: AUTH, body: JSON.stringify(ALERT) });
          expect(res.status).toBe(202);
          const { runId } = (await res.json()) as { runId: string };
          await killedAt(first, `after ${kind} of trigger_retrain`);

          const second = s.executor({ kind, tool: 'deploy_canary' });
          await killedAt(second, `after ${kind} of deploy_canary`);

          const last = s.executor(null);
          const after = await eventually(
            `run ${runId} to end`,
            async () => {
              const r = await runOf(await s.url(last), runId);
              return ['waiting_approval', 'succeeded', 'needs_attention', 'failed'].includes(r.status) ? r : undefined;
            },
            90_000,
          ).catch((err: unknown) => {
            throw new Error(`${String(err)}\nlast executor stderr: ${last.stderr.slice(-4000)}`);
          });
          expect(await last.stop()).toBe(0);

          // The run: checked, retrained, compared and canaried once. With no traffic the canary's
          // analysis cannot judge it (too few requests), so the drift runbook asks for no
          // promotion and ends for a person to watch the canary.
          expect(after.status, JSON.stringify(after.transcript)).toBe('needs_attention');
          // Each call's last word (a long-running call found ended when its run came back to it answers at once, without a wait).
          const ends = new Map<string, [string, string]>();
          for (const i of after.transcript)
            if ((i.kind === 'result' || i.kind === 'wait') && i.callId)
              ends.set(i.callId, [i.name!, i.outcome!.status]);
          expect([...ends]).toEqual([
            ['call_1', ['check_data_quality', 'executed']],
            ['call_2', ['trigger_retrain', 'executed']],
            ['call_3', ['registry_query', 'executed']],
            ['call_4', ['deploy_canary', 'executed']],
          ]);
          expect(after.transcript.filter((i) => i.kind === 'result').map((i) => i.callId)).toEqual([
            'call_1',
            'call_2',
            'call_3',
            'call_4',
          ]);

          // One training job, under the call's key; one version from it.
          const jobs = (await readdir(join(s.home, 'lab', 'jobs'))).filter((f) => f.endsWith('.json'));
          const records = await Promise.all(
            jobs.map(
              async (f) =>
                JSON.parse(await readFile(join(s.home, 'lab', 'jobs', f), 'utf8')) as {
                  idempotencyKey: string | null;
                  status: string;
                  version: string | null;
                },
            ),
          );
          const retrains = records.filter((r) => r.idempotencyKey !== null);
          expect(retrains.map((r) => [r.idempotencyKey, r.status, r.version])).toEqual([
            [`${runId}:call_2`, 'succeeded', '2'],
          ]);
          const versions = (await readdir(join(s.home, 'lab', 'registry', 'credit-risk', 'versions')))
            .filter((v) => /^\d+$/.test(v))
            .sort();
          expect(versions).toEqual(['1', '2']);

          // One canary start: one step to 5%, under the canary call's key; no promotion.
          const history = (await readFile(join(s.home, 'lab', 'deployments', 'deployment-history.jsonl'), 'utf8'))
            .trim()
            .split('\n')
            .map((l) => JSON.parse(l) as { action: string; split: { canaryVersion: string | null } });
          expect(history.filter((h) => h.action === 'canary_step').map((h) => h.split.canaryVersion)).toEqual(['2']);
          expect(history.map((h) => h.action)).not.toContain('promote');
          const deployments = JSON.parse(
            await readFile(join(s.home, 'lab', 'deployments', 'deployments.json'), 'utf8'),
          ) as { keys: Record<string, { kind: string }> };
          expect(Object.entries(deployments.keys).map(([k, v]) => [k, v.kind])).toEqual([
            [`${runId}:call_4`, 'canary'],
          ]);

          // The record: intact, and no call executed twice (a call asked again after a kill is reconciled, not redone).
          const verify = await runCli(['audit', 'verify'], { cwd: s.home, env: { MLOPS_AGENT_HOME: s.home } });
          expect(verify.code, verify.stdout + verify.stderr).toBe(0);
          const entries = await readAuditEntries(join(s.home, 'audit.jsonl'), { runId });
          const reconciled = entries
            .filter((e) => e.kind === 'execution.reconciled')
            .map((e) => [e.data.tool, e.data.found]);
          for (const [, found] of reconciled) expect(['not_started', 'started']).toContain(found);
          expect(entries.filter((e) => e.kind === 'approval.requested')).toHaveLength(0);
          // An end written by a process killed right after it is written again by the resumed run, marked as a possible repeat.
          for (const callId of ['call_2', 'call_4']) {
            const ends = entries.filter((e) => e.kind === 'execution.finished' && e.data.callId === callId);
            expect(ends.length).toBeGreaterThanOrEqual(1);
            expect(ends.slice(1).every((e) => e.data.mayRepeat === true)).toBe(true);
            expect(new Set(ends.map((e) => JSON.stringify(e.data.output))).size).toBe(1);
          }
        } finally {
          for (const p of running) if (p.child.exitCode === null && p.child.signalCode === null) await p.stop();
          await s.cleanup();
        }
      },
      300_000,
    );
  });
}
