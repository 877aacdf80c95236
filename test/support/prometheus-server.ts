// Starts the real Prometheus (Debian's 2.42 at /usr/bin/prometheus) on a free port, with a
// temp TSDB, basic auth, and a 1 s scrape of the given targets; resolves once each target
// has been scraped. Stops it and removes its
// directory on close.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const PROMETHEUS_BIN = process.env.PROMETHEUS_BIN ?? '/usr/bin/prometheus';
export const PROMETHEUS_USER = 'analysis';
export const PROMETHEUS_PASSWORD = 'prom-test-password';
// bcrypt of PROMETHEUS_PASSWORD (cost 10), as Prometheus's web config wants it.
const PASSWORD_HASH = '$2b$10$WsRRywiu3wQf2Xeyi9qezOy5eiv75oTWOtA0Bwmya5vGrcjNMa3rK';

export interface PrometheusServer {
  url: string;
  auth: { username: string; password: string };
  close(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

/** `targets` are host:port pairs serving /metrics. */
export async function startPrometheus(targets: string[]): Promise<PrometheusServer> {
  const dir = await mkdtemp(join(tmpdir(), 'prometheus-test-'));
  const port = await freePort();
  await writeFile(
    join(dir, 'prometheus.yml'),
    [
      'global:',
      '  scrape_interval: 1s',
      '  evaluation_interval: 1s',
      'scrape_configs:',
      '  - job_name: mlops-lab',
      '    static_configs:',
      `      - targets: [${targets.map((t) => JSON.stringify(t)).join(', ')}]`,
      '',
    ].join('\n'),
  );
  await writeFile(join(dir, 'web.yml'), `basic_auth_users:\n  ${PROMETHEUS_USER}: '${PASSWORD_HASH}'\n`);
  const child: ChildProcess = spawn(
    PROMETHEUS_BIN,
    [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--web.config.file=${join(dir, 'web.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr = (stderr + c.toString()).slice(-4000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  const authHeader = `Basic ${Buffer.from(`${PROMETHEUS_USER}:${PROMETHEUS_PASSWORD}`).toString('base64')}`;
  const close = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
    await rm(dir, { recursive: true, force: true });
  };
  const until = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) {
      await close();
      throw new Error(`prometheus exited with ${child.exitCode}: ${stderr}`);
    }
    const ready = await fetch(`${url}/-/ready`, { headers: { authorization: authHeader } }).then(
      (r) => r.ok,
      () => false,
    );
    if (ready) break;
    if (Date.now() > until) {
      await close();
      throw new Error(`prometheus did not become ready within 30 s: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  // Prometheus hands new targets to its scrapers up to 5 s after start: wait for every target's first scrape.
  for (;;) {
    const body = await fetch(`${url}/api/v1/targets`, { headers: { authorization: authHeader } }).then(
      (r) => r.json() as Promise<{ data: { activeTargets: { health: string }[] } }>,
    );
    if (body.data.activeTargets.length === targets.length && body.data.activeTargets.every((t) => t.health === 'up'))
      break;
    if (Date.now() > until) {
      await close();
      throw new Error(
        `prometheus did not scrape ${targets.join(', ')} within 30 s: ${JSON.stringify(body.data.activeTargets)}`,
      );
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { url, auth: { username: PROMETHEUS_USER, password: PROMETHEUS_PASSWORD }, close };
}
