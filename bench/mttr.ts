// Mean time to mitigate: from an alert POSTed to the built `mlops-agent serve` to the
// rollback's `execution.finished` being durable in the audit log, per trial, with the
// in-process queue, with BullMQ and a `worker` (Redis), and with the LLM endpoint answering
// 500. The alert is CanaryDegraded: its runbook's rollback is a mitigation step, so it runs
// through the gate before the LLM is asked anything; the LLM (a local OpenAI-compatible
// server that answers at once, or 500) matters for what follows. With the LLM down, each
// run then pays the LLM's retries until the circuit breaker opens, holding a worker: the
// trials until it opens are shown apart (warm-up), then runs go straight to the runbook.
// The numbers are the agent's own path: intake, queue, run, policy, audit fsyncs, the
// lab's rollback.
// Printed beside Flagger's: it rolls back after about interval x threshold (its documented
// example, 1m x 10, is about 10 min) and cannot act faster than its 10 s control loop.
// Needs `npm run build` (it runs dist/) and, for the BullMQ case, Redis (REDIS_URL or
// 127.0.0.1:6379). Run: npm run bench:mttr [-- --trials N]
import { existsSync, watch } from 'node:fs';
import { mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { openLocalLab } from '../src/backends/local/index.js';
import { loadConfig } from '../src/app/config.js';
import { silentLogger } from '../src/logger.js';
import { versionInput } from '../test/contract/model-registry.contract.js';
import { wipe } from '../test/integration/intake/redis-helpers.js';
import { startCli, type CliProcess } from '../test/support/cli-process.js';
import {
  chatTextReply,
  startFakeOpenAiServer,
  toolCallsReply,
  type FakeOpenAiServer,
} from '../test/support/fake-openai-server.js';
import { CLI } from '../test/support/run-cli.js';

const REDIS_URL = loadConfig().redisUrl ?? 'redis://127.0.0.1:6379';
const TRIALS = Number(process.argv[process.argv.indexOf('--trials') + 1]) || 100;
const TOKEN = 'bench-mttr-token-0123456789abcdef';
const AUTH = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
const TARGETS = { inProcess: 150, bullmq: 150, llmDown: 1000 };
const FLAGGER_FLOOR_MS = 10_000;
const FLAGGER_EXAMPLE_MS = 10 * 60_000;

const dirs: string[] = [];
const processes: CliProcess[] = [];

async function labHome(tag: string): Promise<string> {
  const home = await mkdtemp(join(tmpdir(), `mlops-mttr-${tag}-`));
  dirs.push(home);
  const lab = await openLocalLab({
    config: loadConfig({ env: { MLOPS_AGENT_HOME: home }, cwd: home }),
    logger: silentLogger,
  });
  await lab.registry.createModel('credit-risk', 'probability of default');
  await lab.registry.registerVersion(versionInput('credit-risk', 0.86));
  await lab.registry.registerVersion(versionInput('credit-risk', 0.87));
  await lab.deployer.serve('credit-risk', 'production', '1');
  await lab.close();
  return home;
}

/** Resolves, per run id, when the rollback's `execution.finished` is in the audit file; follows the file as it grows. */
function auditFollower(file: string) {
  const waiting = new Map<string, (at: number) => void>();
  const seen = new Map<string, number>();
  let offset = 0;
  let rest = '';
  let reading = false;
  let again = false;
  async function read(): Promise<void> {
    if (reading) {
      again = true;
      return;
    }
    reading = true;
    try {
      do {
        again = false;
        if (!existsSync(file)) continue;
        const handle = await open(file, 'r');
        try {
          const { size } = await handle.stat();
          if (size <= offset) continue;
          const buffer = Buffer.alloc(size - offset);
          await handle.read(buffer, 0, buffer.length, offset);
          offset = size;
          const text = rest + buffer.toString('utf8');
          const lines = text.split('\n');
          rest = lines.pop() ?? '';
          const now = performance.now();
          for (const line of lines) {
            if (!line.includes('"execution.finished"') || !line.includes('"rollback"')) continue;
            const entry = JSON.parse(line) as { runId: string; kind: string; data: { tool?: string } };
            if (entry.kind !== 'execution.finished' || entry.data.tool !== 'rollback') continue;
            seen.set(entry.runId, now);
            waiting.get(entry.runId)?.(now);
          }
        } finally {
          await handle.close();
        }
      } while (again);
    } finally {
      reading = false;
    }
  }
  let watcher: ReturnType<typeof watch> | null = null;
  const timer = setInterval(() => void read(), 5);
  return {
    start() {
      if (!watcher && existsSync(file)) watcher = watch(file, () => void read());
    },
    finished(runId: string): Promise<number> {
      const at = seen.get(runId);
      if (at !== undefined) return Promise.resolve(at);
      return new Promise((resolve) => waiting.set(runId, resolve));
    },
    close() {
      clearInterval(timer);
      watcher?.close();
    },
  };
}

interface Scenario {
  name: string;
  target: number;
  p99: number;
  p50: number;
  max: number;
  trials: number;
  warmup: number[];
}

const quantile = (sorted: number[], q: number) =>
  sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;

async function trials(
  name: string,
  target: number,
  url: string,
  auditFile: string,
  opts: { llm: FakeOpenAiServer; answering: boolean; warmupUntil?: () => Promise<boolean> },
): Promise<Scenario> {
  const follower = auditFollower(auditFile);
  const times: number[] = [];
  const warmup: number[] = [];
  let n = 0;
  try {
    for (;;) {
      const warming = opts.warmupUntil ? !(await opts.warmupUntil()) : false;
      if (!warming && times.length >= TRIALS) break;
      n++;
      if (opts.answering)
        opts.llm.script(
          toolCallsReply([
            {
              name: 'rollback',
              args: {
                model: 'credit-risk',
                environment: 'production',
                reason: 'CanaryDegraded: error rate 4x the stable version',
              },
            },
          ]),
          chatTextReply('Rolled back credit-risk in production.'),
        );
      const alert = {
        name: 'CanaryDegraded',
        dedupeKey: `mttr-${name}-${n}`,
        labels: { model: 'credit-risk', environment: 'production' },
        summary: 'canary error rate 4x the stable version',
      };
      const t0 = performance.now();
      const res = await fetch(`${url}/v1/alerts`, { method: 'POST', headers: AUTH, body: JSON.stringify(alert) });
      const { runId } = (await res.json()) as { runId: string };
      if (res.status !== 202) throw new Error(`alert answered ${res.status}`);
      follower.start();
      const done = await Promise.race([
        follower.finished(runId),
        new Promise<number>((_, reject) =>
          setTimeout(() => reject(new Error(`${name}: no rollback for run ${runId} within 60 s`)), 60_000),
        ),
      ]);
      (warming ? warmup : times).push(done - t0);
      // Let the run finish its last turn before the next trial, so trials do not queue behind each other.
      await new Promise((r) => setTimeout(r, 40));
    }
  } finally {
    follower.close();
  }
  const sorted = [...times].sort((a, b) => a - b);
  return {
    name,
    target,
    trials: times.length,
    p50: quantile(sorted, 0.5),
    p99: quantile(sorted, 0.99),
    max: sorted.at(-1)!,
    warmup,
  };
}

function serve(home: string, env: Record<string, string>, args: string[] = ['serve', '--port', '0']): CliProcess {
  const p = startCli(args, {
    cwd: home,
    env: { MLOPS_AGENT_HOME: home, MLOPS_AGENT_API_TOKEN: TOKEN, MLOPS_AGENT_LOG_LEVEL: 'warn', ...env },
  });
  processes.push(p);
  return p;
}

async function main(): Promise<void> {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build first`);
  const load = loadavg();
  console.log(
    `mttr: alert POST -> rollback execution.finished durable in the audit log; ${TRIALS} trials each; ${cpus().length} CPUs, load ${load.map((l) => l.toFixed(2)).join(' ')}`,
  );
  const results: Scenario[] = [];
  const llm = await startFakeOpenAiServer();
  const llmEnv = { MLOPS_AGENT_LLM: 'openai', OPENAI_BASE_URL: llm.baseUrl };
  try {
    {
      const home = await labHome('inproc');
      const p = serve(home, llmEnv);
      const url = (await p.line(/serving on (http:\/\/127\.0\.0\.1:\d+)/))[1]!;
      results.push(
        await trials('in-process queue (serve)', TARGETS.inProcess, url, join(home, 'audit.jsonl'), {
          llm,
          answering: true,
        }),
      );
      await p.stop();
    }
    {
      const prefix = `mlops-bench-mttr-${process.pid}`;
      const redis = { REDIS_URL, MLOPS_AGENT_QUEUE_PREFIX: prefix };
      const intake = await mkdtemp(join(tmpdir(), 'mlops-mttr-intake-'));
      dirs.push(intake);
      await writeFile(join(intake, 'mlops-agent.yaml'), 'worker:\n  inProcess: false\n');
      const home = await labHome('worker');
      const s = serve(intake, { ...llmEnv, ...redis });
      const url = (await s.line(/serving on (http:\/\/127\.0\.0\.1:\d+)/))[1]!;
      const w = serve(home, { ...llmEnv, ...redis }, ['worker']);
      await w.line(/worker consuming runs/);
      try {
        results.push(
          await trials('BullMQ + worker', TARGETS.bullmq, url, join(home, 'audit.jsonl'), { llm, answering: true }),
        );
      } finally {
        await w.stop();
        await s.stop();
        await wipe(prefix, 'runs', REDIS_URL);
      }
    }
    {
      const home = await labHome('llm-down');
      const p = serve(home, llmEnv);
      const url = (await p.line(/serving on (http:\/\/127\.0\.0\.1:\d+)/))[1]!;
      // Nothing scripted: the endpoint answers 500 to every request.
      const open = async () =>
        (
          ((await (await fetch(`${url}/readyz`, { headers: AUTH })).json()) as { planners?: { state: string }[] })
            .planners ?? []
        ).some((c) => c.state === 'open');
      results.push(
        await trials('LLM answering 500 (breaker open)', TARGETS.llmDown, url, join(home, 'audit.jsonl'), {
          llm,
          answering: false,
          warmupUntil: open,
        }),
      );
      await p.stop();
    }
  } finally {
    await llm.close();
  }

  console.log('');
  console.log(
    `${'scenario'.padEnd(36)} ${'trials'.padStart(6)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)} ${'max ms'.padStart(8)} ${'target p99'.padStart(11)}  ${'vs Flagger floor 10 s'.padStart(21)}  ${'vs example 10 min'.padStart(17)}`,
  );
  for (const r of results) {
    const ok = r.p99 <= r.target ? 'ok' : 'MISSED';
    console.log(
      `${r.name.padEnd(36)} ${String(r.trials).padStart(6)} ${r.p50.toFixed(1).padStart(8)} ${r.p99.toFixed(1).padStart(8)} ${r.max.toFixed(1).padStart(8)} ${`<= ${r.target} ${ok}`.padStart(11)}  ${`${(FLAGGER_FLOOR_MS / r.p99).toFixed(0)}x faster`.padStart(21)}  ${`${(FLAGGER_EXAMPLE_MS / r.p99).toFixed(0)}x faster`.padStart(17)}`,
    );
    if (r.warmup.length > 0)
      console.log(
        `${''.padEnd(36)} warm-up until the breaker opened: ${r.warmup.map((w) => `${(w / 1000).toFixed(2)} s`).join(', ')} (a run queued behind runs paying the failing LLM's retries waits for a worker)`,
      );
  }
  console.log(
    `load after: ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')} (targets are for an idle 2-core machine)`,
  );
}

try {
  await main();
} finally {
  for (const p of processes) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
  for (const d of dirs) await rm(d, { recursive: true, force: true });
}
