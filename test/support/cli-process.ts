// A long-running mlops-agent command (serve, worker) started as a child process, with
// its output collected and a way to wait for a line on stdout.
import { spawn, type ChildProcess } from 'node:child_process';
import { CLI } from './run-cli.js';

export interface CliProcess {
  child: ChildProcess;
  readonly stdout: string;
  readonly stderr: string;
  /** The first match of `pattern` on stdout, waiting for it up to `ms`. */
  line(pattern: RegExp, ms?: number): Promise<RegExpExecArray>;
  /** Sends SIGTERM and resolves with the exit code. */
  stop(): Promise<number | null>;
  exited: Promise<number | null>;
}

/** `nodeArgs`: given to node before the command, e.g. `--import` of a preload module. */
export function startCli(
  args: string[],
  options: { env: Record<string, string>; cwd: string; nodeArgs?: string[] },
): CliProcess {
  const env = { PATH: process.env.PATH ?? '', HOME: options.cwd, MLOPS_AGENT_LOG_LEVEL: 'warn', ...options.env };
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), CLI, ...args], {
    env,
    cwd: options.cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  const listeners = new Set<() => void>();
  child.stdout!.on('data', (d: Buffer) => {
    stdout += d.toString();
    for (const l of listeners) l();
  });
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return {
    child,
    get stdout() {
      return stdout;
    },
    get stderr() {
      return stderr;
    },
    exited,
    line(pattern, ms = 30_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const match = pattern.exec(stdout);
          if (!match) return;
          listeners.delete(check);
          clearTimeout(timer);
          resolve(match);
        };
        const timer = setTimeout(() => {
          listeners.delete(check);
          reject(new Error(`no line matching ${pattern} within ${ms} ms; stdout: ${stdout}; stderr: ${stderr}`));
        }, ms);
        listeners.add(check);
        void exited.then((code) => {
          if (!listeners.has(check)) return;
          listeners.delete(check);
          clearTimeout(timer);
          reject(new Error(`exited (${code}) before a line matching ${pattern}; stdout: ${stdout}; stderr: ${stderr}`));
        });
        check();
      });
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}

export { eventually } from './eventually.js';
