// A redis-server of a test's own, on a free port with its data in a temp dir, that the
// test may kill and start again (the shared Redis on 6379 must never be stopped). With
// appendonly and appendfsync always, a restart keeps every write, as a production Redis
// with persistence would.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface PrivateRedis {
  readonly port: number;
  readonly url: string;
  /** Kills the server (SIGKILL by default) and resolves once it has exited. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Starts it again on the same port and dir; resolves once it accepts connections. */
  restart(): Promise<void>;
  /** Kills it if running and removes its dir. */
  destroy(): Promise<void>;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function launch(port: number, dir: string): Promise<ChildProcess> {
  const args = [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--dir',
    dir,
    '--appendonly',
    'yes',
    '--appendfsync',
    'always',
    '--save',
    '',
    '--logfile',
    '',
  ];
  const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  return new Promise((resolve, reject) => {
    const onData = (d: Buffer) => {
      output += d.toString();
      if (!output.includes('Ready to accept connections')) return;
      child.stdout!.off('data', onData);
      // Keep draining, or a full pipe would block the server's logging.
      child.stdout!.resume();
      resolve(child);
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    child.once('error', reject);
    child.once('exit', (code, signal) =>
      reject(new Error(`redis-server on port ${port} exited (${code ?? signal}) before it was ready: ${output}`)),
    );
  });
}

export async function startPrivateRedis(): Promise<PrivateRedis> {
  const dir = await mkdtemp(join(tmpdir(), 'mlops-private-redis-'));
  const port = await freePort();
  let child: ChildProcess | null = await launch(port, dir);
  const kill = async (signal: NodeJS.Signals = 'SIGKILL') => {
    const c = child;
    child = null;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise((resolve) => c.once('exit', resolve));
    c.kill(signal);
    await exited;
  };
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    kill,
    async restart() {
      if (child) throw new Error('the private Redis is still running');
      child = await launch(port, dir);
    },
    async destroy() {
      await kill();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
