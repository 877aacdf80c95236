// The whole monitoring loop with the real Prometheus (2.42) and Alertmanager (0.25): the lab
// runs with live traffic, an MCP client canaries a candidate through serve, the candidate is
// made to fail, the shipped rule (examples/prometheus/rules.yml, windows shortened) fires,
// Alertmanager posts to serve with its bearer credentials file, the agent's runbook rolls
// the canary back, the alert resolves, and the audit log verifies. Prints injection→rollback.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../src/paths.js';
import { eventually, startCli, type CliProcess } from '../support/cli-process.js';
import { runCli } from '../support/run-cli.js';

const PROMETHEUS = '/usr/bin/prometheus';
const ALERTMANAGER = '/usr/bin/prometheus-alertmanager';
const TOKEN = 'monitoring-loop-token-0123456789';
const installed = existsSync(PROMETHEUS) && existsSync(ALERTMANAGER);

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

function start(bin: string, args: string[], cwd: string): { child: ChildProcess; output: () => string } {
  const child = spawn(bin, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  return { child, output: () => output };
}

async function stopChild(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('close', resolve));
  child.kill('SIGTERM');
  await exited;
}

interface LabStatus {
  models: {
    model: string;
    serving: { version: string; role: string; percent: number }[];
    rollout: { status: string; canaryPercent: number; reason: string | null } | null;
  }[];
}

describe.skipIf(!installed)('the monitoring loop with the real Prometheus and Alertmanager', () => {
  let home: string;
  let lab: CliProcess;
  let serve: CliProcess;
  let prometheus: ReturnType<typeof start> | undefined;
  let alertmanager: ReturnType<typeof start> | undefined;
  const ports = { control: 0, credit: 0, trading: 0, agent: 0, prometheus: 0, alertmanager: 0 };
  const env = () => ({ MLOPS_AGENT_HOME: home, MLOPS_AGENT_API_TOKEN: TOKEN });
  const labStatus = async () => (await (await fetch(`http://127.0.0.1:${ports.control}/status`)).json()) as LabStatus;
  const credit = async () => (await labStatus()).models.find((m) => m.model === 'credit-risk')!;
  const firing = async () => {
    const body = (await (await fetch(`http://127.0.0.1:${ports.prometheus}/api/v1/alerts`)).json()) as {
      data: { alerts: { labels: Record<string, string>; state: string }[] };
    };
    return body.data.alerts.filter((a) => a.labels.alertname === 'CanaryDegraded' && a.state === 'firing');
  };

  beforeAll(async () => {
    home = await mkdtemp(join(tmpdir(), 'mlops-monitoring-loop-'));
    for (const key of Object.keys(ports) as (keyof typeof ports)[]) ports[key] = await freePort();
    const init = await runCli(['lab', 'init'], { cwd: home, env: env(), timeoutMs: 180_000 });
    expect(init.code, init.stderr).toBe(0);
    expect(init.stdout).toMatch(
      /credit-risk: v1 is champion and serves 100% of production; v2 is a candidate to canary/,
    );
    expect(init.stdout).toMatch(/fx-signal v\d trained: auc [\d.]+, sharpe_per_trade [\d.]+, hit_rate [\d.]+\n/);
    // A second init finds everything there and writes nothing.
    const deployments = await readFile(join(home, 'lab', 'deployments', 'deployments.json'), 'utf8');
    const again = await runCli(['lab', 'init'], { cwd: home, env: env() });
    expect(again.stdout).toContain('nothing to do: the lab was already seeded, and nothing was changed');
    expect(await readFile(join(home, 'lab', 'deployments', 'deployments.json'), 'utf8')).toBe(deployments);

    lab = startCli(
      [
        'lab',
        'up',
        '--control-port',
        String(ports.control),
        '--credit-port',
        String(ports.credit),
        '--trading-port',
        String(ports.trading),
        '--label-delay-ms',
        '1000',
      ],
      { cwd: home, env: env() },
    );
    await lab.line(/Stop with Ctrl-C/);
    const refused = await runCli(['lab', 'init'], { cwd: home, env: env() });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('is up (pid');
    serve = startCli(['serve', '--port', String(ports.agent)], { cwd: home, env: env() });
    await serve.line(/serving on/);

    // The shipped files, pointed at this test's ports, with short windows so the loop takes seconds.
    const examples = join(packageRoot, 'examples', 'prometheus');
    await writeFile(join(home, 'agent-token'), TOKEN, { mode: 0o600 });
    const promConfig = (await readFile(join(examples, 'prometheus.yml'), 'utf8'))
      .replace(/scrape_interval: 15s/, 'scrape_interval: 1s')
      .replace(/evaluation_interval: 15s/, 'evaluation_interval: 1s')
      .replace('127.0.0.1:9093', `127.0.0.1:${ports.alertmanager}`)
      .replace("'127.0.0.1:9401', '127.0.0.1:9402'", `'127.0.0.1:${ports.credit}', '127.0.0.1:${ports.trading}'`)
      .replace("'127.0.0.1:9400'", `'127.0.0.1:${ports.control}'`)
      .replace("'127.0.0.1:8080'", `'127.0.0.1:${ports.agent}'`);
    await writeFile(join(home, 'prometheus.yml'), promConfig);
    const rules = (await readFile(join(examples, 'rules.yml'), 'utf8'))
      .replace(/\[2m\]|\[5m\]/g, '[10s]')
      .replace(/for: \d+m/g, 'for: 2s');
    await writeFile(join(home, 'rules.yml'), rules);
    const amConfig = (await readFile(join(examples, 'alertmanager.yml'), 'utf8'))
      .replace('group_wait: 10s', 'group_wait: 1s')
      .replace('group_interval: 1m', 'group_interval: 1s')
      .replace('127.0.0.1:8080', `127.0.0.1:${ports.agent}`);
    await writeFile(join(home, 'alertmanager.yml'), amConfig);

    prometheus = start(
      PROMETHEUS,
      [
        `--config.file=${join(home, 'prometheus.yml')}`,
        `--storage.tsdb.path=${join(home, 'prometheus-data')}`,
        `--web.listen-address=127.0.0.1:${ports.prometheus}`,
      ],
      home,
    );
    alertmanager = start(
      ALERTMANAGER,
      [
        `--config.file=${join(home, 'alertmanager.yml')}`,
        `--storage.path=${join(home, 'alertmanager-data')}`,
        `--web.listen-address=127.0.0.1:${ports.alertmanager}`,
        '--cluster.listen-address=',
      ],
      home,
    );
    await eventually(
      'Prometheus to scrape all four targets',
      async () => {
        const res = await fetch(`http://127.0.0.1:${ports.prometheus}/api/v1/targets`).catch(() => null);
        if (!res?.ok) return undefined;
        const targets = ((await res.json()) as { data: { activeTargets: { health: string }[] } }).data.activeTargets;
        return targets.length === 4 && targets.every((t) => t.health === 'up') ? true : undefined;
      },
      60_000,
    );
  }, 300_000);

  afterAll(async () => {
    await stopChild(prometheus?.child);
    await stopChild(alertmanager?.child);
    await serve?.stop();
    await lab?.stop();
    if (home) await rm(home, { recursive: true, force: true });
  });

  it('rolls back a failing canary on the alert Prometheus raises, and the alert resolves', async () => {
    // An MCP client canaries the candidate through serve: the gate allows 5% in production.
    const client = new Client({ name: 'monitoring-loop', version: '1.0.0' });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${ports.agent}/mcp`), {
        requestInit: { headers: { authorization: `Bearer ${TOKEN}` } },
      }),
    );
    const started = await client.callTool({
      name: 'deploy_canary',
      arguments: { model: 'credit-risk', version: '2', environment: 'production', trafficPercent: 5 },
    });
    await client.close();
    expect(started.isError, JSON.stringify(started.content)).toBeFalsy();
    await eventually(
      'the canary to hold 5%',
      async () => ((await credit()).serving.find((s) => s.role === 'canary')?.percent === 5 ? true : undefined),
      90_000,
    );
    expect(await firing()).toEqual([]);

    // Error ratios read 0, not nothing, before the first error.
    const before = await (await fetch(`http://127.0.0.1:${ports.credit}/metrics`)).text();
    expect(before).toContain(
      'mlops_lab_predict_errors_total{model="credit-risk",environment="production",version="2"} 0',
    );
    const status = await runCli(['lab', 'status'], { cwd: home, env: env() });
    expect(status.stdout).toMatch(/v2 +canary +5%/);

    const injected = Date.now();
    const inject = await runCli(['lab', 'inject', 'errors', '--error-rate', '0.5'], { cwd: home, env: env() });
    expect(inject.code, inject.stderr).toBe(0);
    expect(inject.stdout).toContain('credit-risk v2: 50% of its requests now fail');

    const alert = await eventually('CanaryDegraded to fire', async () => (await firing())[0], 60_000);
    expect(alert.labels).toMatchObject({
      model: 'credit-risk',
      environment: 'production',
      version: '2',
      check: 'error_rate',
    });
    await eventually(
      'the agent to roll the canary back',
      async () => ((await credit()).rollout?.status === 'rolled_back' ? true : undefined),
      60_000,
    );
    const rolledBackAfterMs = Date.now() - injected;
    process.stdout.write(`monitoring loop: injection to rollback took ${(rolledBackAfterMs / 1000).toFixed(1)} s\n`);
    const after = await credit();
    expect(after.serving).toEqual([expect.objectContaining({ version: '1', role: 'stable', percent: 100 })]);
    expect(after.rollout?.reason).toContain(
      'CanaryDegraded alert for credit-risk v2 in production: rolled back by runbook canary-rollback',
    );

    // The agent, not the lab's own canary watch, did it: the move is the runbook's.
    // The state moves first, then the history line is appended: wait for it.
    const readHistory = async () =>
      (await readFile(join(home, 'lab', 'deployments', 'deployment-history.jsonl'), 'utf8'))
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { action: string; by: string; reason: string });
    const rollback = await eventually(
      'the rollback in the deployment history',
      async () => {
        const rows = (await readHistory()).filter((h) => h.action === 'rollback');
        return rows.length > 0 ? rows : undefined;
      },
      30_000,
    );
    expect(rollback).toHaveLength(1);
    expect(rollback[0]!.reason).toContain('rolled back by runbook canary-rollback');

    await eventually('the alert to resolve', async () => ((await firing()).length === 0 ? true : undefined), 60_000);
    const runs = await runCli(['runs', 'list'], { cwd: home, env: env() });
    expect(runs.stdout).toContain('CanaryDegraded');
  }, 300_000);

  it('leaves an audit log that verifies', async () => {
    await serve.stop();
    const verify = await runCli(['audit', 'verify'], { cwd: home, env: env() });
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
  }, 120_000);
});
