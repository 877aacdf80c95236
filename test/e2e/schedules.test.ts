// Schedules in the config of the built `mlops-agent serve`: runs with trigger `schedule`
// planned by the runbook they name, with the in-process queue and with BullMQ on Redis,
// where a schedule taken out of the config is removed on the next start.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { REDIS_URL, uniqueNames, wipe } from '../integration/intake/redis-helpers.js';
import { eventually, startCli, type CliProcess } from '../support/cli-process.js';

const TOKEN = 'schedules-e2e-token-0123456789';
const AUTH = { authorization: `Bearer ${TOKEN}` };
const { prefix } = uniqueNames();
const dirs: string[] = [];
const running: CliProcess[] = [];

const everySecond = `schedules:
  - name: nightly-credit-risk
    cron: "* * * * * *"
    task: Retrain credit-risk on the latest applications
    runbook: nightly-retrain
    labels: { model: credit-risk, dataset: credit-recent, environment: production }
`;

async function serve(
  yaml: string,
  env: Record<string, string> = {},
  home?: string,
): Promise<{ p: CliProcess; url: string; home: string }> {
  const dir = home ?? (await mkdtemp(join(tmpdir(), 'mlops-schedules-e2e-')));
  if (!home) dirs.push(dir);
  await writeFile(join(dir, 'mlops-agent.yaml'), yaml);
  const p = startCli(['serve', '--port', '0'], {
    cwd: dir,
    env: { MLOPS_AGENT_HOME: dir, MLOPS_AGENT_API_TOKEN: TOKEN, MLOPS_AGENT_LLM: 'runbook', ...env },
  });
  running.push(p);
  const [, url] = await p.line(/serving on (http:\/\/127\.0\.0\.1:\d+)/);
  return { p, url: url!, home: dir };
}

async function scheduledRun(url: string): Promise<Record<string, any>> {
  return eventually('a scheduled run to end', async () => {
    // The lab has no data set: the runbook's check fails, so a scheduled run ends failed.
    const { runs } = (await (await fetch(`${url}/v1/runs?status=failed`, { headers: AUTH })).json()) as {
      runs: Record<string, any>[];
    };
    return runs.find((r) => r.trigger.kind === 'schedule');
  });
}

afterEach(() => {
  for (const p of running.splice(0))
    if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
});
afterAll(async () => {
  await wipe(prefix, 'runs');
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('schedules in mlops-agent serve (the built command)', () => {
  it('start runs with trigger schedule, planned by the runbook they name, on the in-process queue', async () => {
    const { p, url } = await serve(everySecond);
    expect(p.stdout).toContain('queue: in-process; in-process worker, 2 at a time; 1 schedule(s)');
    const run = await scheduledRun(url);
    expect(run).toMatchObject({
      planner: 'runbook:nightly-retrain',
      trigger: {
        kind: 'schedule',
        principal: 'agent:scheduler',
        text: 'Retrain credit-risk on the latest applications',
      },
    });
    // The lab has no data set yet: the check fails and nothing is trained.
    expect(run.answer).toContain('Runbook nightly-retrain');
    expect(run.answer).toContain('stopped at step check');
    expect(await p.stop()).toBe(0);
  });

  it('become BullMQ job schedulers with Redis, and one taken out of the config is removed on the next start', async () => {
    const env = { REDIS_URL, MLOPS_AGENT_QUEUE_PREFIX: prefix };
    const first = await serve(everySecond, env);
    await scheduledRun(first.url);
    expect(await first.p.stop()).toBe(0);

    const admin = new Queue('runs', { connection: { url: REDIS_URL }, prefix });
    try {
      expect((await admin.getJobSchedulers(0, -1)).map((s) => s.key)).toEqual(['nightly-credit-risk']);
      const second = await serve('{}\n', env, first.home);
      expect(second.p.stdout).toContain('0 schedule(s)');
      expect(await admin.getJobSchedulersCount()).toBe(0);
      expect((await admin.getDelayed()).filter((j) => j.repeatJobKey)).toEqual([]);
      expect(await second.p.stop()).toBe(0);
    } finally {
      await admin.close();
    }
  });
});
