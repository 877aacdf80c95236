// The built `serve` and two `worker`s with the audit chain in PostgreSQL (DATABASE_URL, a
// schema of their own) and the queue on Redis: every process appends to one chain, serve
// exports evidence for runs the workers executed, and verify finds the one chain intact
// with every process's checkpoints agreeing with it.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { EvidenceBundle } from '../../src/audit/index.js';
import { REDIS_URL, uniqueNames, wipe } from '../integration/intake/redis-helpers.js';
import { eventually, startCli, type CliProcess } from '../support/cli-process.js';
import { dropSchema, PG_URL, uniqueSchema } from '../support/postgres.js';
import { runCli } from '../support/run-cli.js';

const TOKEN = 'pg-audit-e2e-token-0123456789';
const AUTH = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
const dirs: string[] = [];
const running: CliProcess[] = [];
const prefix = uniqueNames().prefix;
const schema = uniqueSchema();

afterEach(() => {
  for (const p of running.splice(0))
    if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
});
afterAll(async () => {
  await wipe(prefix, 'runs');
  await dropSchema(schema);
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function dir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'mlops-pg-audit-e2e-'));
  dirs.push(d);
  return d;
}

describe('serve and workers with the audit chain in PostgreSQL (the built command)', () => {
  it('write one chain that verifies, from which serve exports the evidence of runs its workers executed', async () => {
    const keys = await dir();
    expect((await runCli(['audit', 'keygen', '--out', join(keys, 'audit.key')], { cwd: keys })).code).toBe(0);
    const env = {
      REDIS_URL,
      MLOPS_AGENT_QUEUE_PREFIX: prefix,
      DATABASE_URL: PG_URL,
      MLOPS_AGENT_AUDIT_SCHEMA: schema,
      MLOPS_AGENT_AUDIT_SIGNING_KEY: join(keys, 'audit.key'),
      MLOPS_AGENT_API_TOKEN: TOKEN,
      MLOPS_AGENT_LLM: 'runbook',
    };
    const start = async (args: string[]) => {
      const home = await dir();
      const p = startCli(args, { cwd: home, env: { ...env, MLOPS_AGENT_HOME: home } });
      running.push(p);
      return p;
    };
    const serve = await start(['serve', '--port', '0']);
    const workers = [await start(['worker']), await start(['worker'])];
    const [, url] = await serve.line(/serving on (http:\/\/127\.0\.0\.1:\d+)/);
    for (const w of workers) await w.line(/worker consuming runs/);

    // Four alerts for four datasets: four runs, each executed by whichever process takes it.
    const runIds: string[] = [];
    for (let i = 0; i < 4; i++) {
      const alert = {
        name: 'ModelDriftDetected',
        labels: { model: 'credit-risk', dataset: `credit-recent-${i}`, environment: 'production' },
        summary: `PSI 0.4${i}`,
      };
      const posted = await fetch(`${url}/v1/alerts`, { method: 'POST', headers: AUTH, body: JSON.stringify(alert) });
      expect(posted.status).toBe(202);
      runIds.push(((await posted.json()) as { runId: string }).runId);
    }
    const ended = new Map<string, string>();
    for (const runId of runIds) {
      const run = await eventually(
        `run ${runId} to end`,
        async () => {
          const body = (await (await fetch(`${url}/v1/runs/${runId}`, { headers: AUTH })).json()) as { status: string };
          return ['queued', 'running'].includes(body.status) ? undefined : body;
        },
        90_000,
      );
      // The lab has no such datasets: each run's check fails and the run ends there.
      ended.set(runId, run.status);
    }

    // serve checkpoints the shared chain, then proves each run from it, whoever executed it.
    for (const runId of runIds) {
      const res = await fetch(`${url}/v1/runs/${runId}/evidence`, { headers: AUTH });
      expect(res.status).toBe(200);
      expect(res.headers.get('x-evidence-status')).toBe('proven');
      const bundle = (await res.json()) as EvidenceBundle;
      expect(bundle.source).toMatchObject({
        store: 'postgres',
        location: expect.stringContaining(`(schema ${schema})`),
      });
      expect(bundle.record.outcome).toMatchObject({ status: ended.get(runId) });
      expect(bundle.record.calls.map((c) => c.tool)).toContain('check_data_quality');
    }
    const html = await fetch(`${url}/v1/runs/${runIds[0]}/evidence?format=html`, { headers: AUTH });
    expect(html.headers.get('content-type')).toContain('text/html');
    expect(await html.text()).toContain(`Evidence report: run ${runIds[0]}`);
    expect((await fetch(`${url}/v1/runs/${runIds[0]}/evidence`)).status).toBe(401);
    expect((await fetch(`${url}/v1/runs/run_nope/evidence`, { headers: AUTH })).status).toBe(404);

    for (const w of workers) expect(await w.stop()).toBe(0);
    expect(await serve.stop()).toBe(0);

    const verify = await runCli(['audit', 'verify', '--json'], { cwd: await dir(), env });
    expect(verify.stderr).toBe('');
    expect(verify.code).toBe(0);
    const report = JSON.parse(verify.stdout) as {
      ok: boolean;
      chain: { ok: boolean; entries: number };
      checkpoints: { verdict: string; checkpoint: { writer: string; reason: string } }[];
      notCovered: unknown;
    };
    expect(report.ok).toBe(true);
    expect(report.chain.ok).toBe(true);
    // Every run's steps are in the one chain.
    const tail = await runCli(['audit', 'tail', '-n', '1000', '--json'], { cwd: await dir(), env });
    const entries = tail.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { runId: string | null; kind: string });
    expect(report.chain.entries).toBe(entries.length);
    for (const runId of runIds)
      expect(entries.filter((e) => e.runId === runId && e.kind === 'run.finished')).toHaveLength(1);
    // Each of the three processes checkpointed at shutdown, and every checkpoint holds.
    const shutdowns = new Set(
      report.checkpoints.filter((c) => c.checkpoint.reason === 'shutdown').map((c) => c.checkpoint.writer),
    );
    expect(shutdowns.size).toBe(3);
    expect(report.checkpoints.every((c) => c.verdict === 'holds')).toBe(true);
    expect(report.notCovered).toBeNull();
  }, 240_000);
});
