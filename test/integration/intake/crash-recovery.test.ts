// A worker dies (SIGKILL) holding a run; another worker process gets the same run back
// through BullMQ's stalled-job recovery and finishes it.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Queue } from 'bullmq';
import { afterAll, describe, expect, it } from 'vitest';
import { createBullmqRunQueue } from '../../../src/intake/index.js';
import { REDIS_URL, uniqueNames, wipe } from './redis-helpers.js';

const script = fileURLToPath(new URL('./crash-worker.ts', import.meta.url));
const { prefix, queueName } = uniqueNames();
const children: ChildProcess[] = [];

function startWorker(mode: 'hang' | 'complete') {
  const child = spawn(process.execPath, ['--import', 'tsx', script, mode, REDIS_URL, prefix, queueName], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  const lines: string[] = [];
  const waiters: { match: RegExp; resolve: (line: string) => void }[] = [];
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  createInterface({ input: child.stdout! }).on('line', (line) => {
    lines.push(line);
    for (const w of waiters.filter((w) => w.match.test(line))) w.resolve(line);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    child,
    exited,
    lines,
    get stderr() {
      return stderr;
    },
    waitFor(match: RegExp): Promise<string> {
      const seen = lines.find((l) => match.test(l));
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        waiters.push({ match, resolve });
        void exited.then(() => reject(new Error(`worker exited before printing ${match}: ${stderr}`)));
      });
    },
  };
}

describe('crash recovery of a run queued on BullMQ', () => {
  afterAll(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await wipe(prefix, queueName);
  });

  it('gives the run of a SIGKILLed worker to another worker process, which finishes it', async () => {
    const producer = createBullmqRunQueue({ connection: REDIS_URL, prefix, queueName });
    const { runId } = await producer.enqueue({
      kind: 'chat',
      principal: { id: 'alice', roles: [] },
      text: 'retrain churn',
      data: null,
    });

    const first = startWorker('hang');
    await first.waitFor(new RegExp(`^picked ${runId} retrain churn$`));
    first.child.kill('SIGKILL');
    await first.exited;
    const killedAt = Date.now();

    const second = startWorker('complete');
    await second.waitFor(/^ready$/);
    const readyMs = Date.now() - killedAt;
    await second.waitFor(new RegExp(`^done ${runId}$`));
    const recoveredMs = Date.now() - killedAt;

    const admin = new Queue(queueName, { connection: { url: REDIS_URL }, prefix });
    try {
      let state = await admin.getJobState(runId);
      while (state === 'active') {
        await new Promise((r) => setTimeout(r, 20));
        state = await admin.getJobState(runId);
      }
      expect(state).toBe('completed');
      const job = await admin.getJob(runId);
      expect(job?.stalledCounter).toBe(1);
    } finally {
      await admin.close();
    }
    // Kept in the test output: the report quotes how long recovery took.
    console.log(
      `crash recovery: run ${runId} finished by the second worker ${recoveredMs} ms after SIGKILL, of which ${readyMs} ms starting that process (lockDuration 1000, stalledInterval 500)`,
    );

    second.child.kill('SIGTERM');
    await second.exited;
    expect(second.child.exitCode).toBe(0);
    expect(await producer.depth()).toBe(0);
    await producer.close();
  });

  it('gives up on a run whose workers keep dying under it, and tells the worker that finds it', async () => {
    const producer = createBullmqRunQueue({ connection: REDIS_URL, prefix, queueName });
    const { runId } = await producer.enqueue({
      kind: 'chat',
      principal: { id: 'alice', roles: [] },
      text: 'a run that kills its worker',
      data: null,
    });
    // Each worker dies holding it (an out-of-memory kill, say); BullMQ allows one such loss.
    for (let i = 0; i < 2; i++) {
      const doomed = startWorker('hang');
      await doomed.waitFor(new RegExp(`^picked ${runId} `));
      doomed.child.kill('SIGKILL');
      await doomed.exited;
    }
    const last = startWorker('complete');
    const line = await last.waitFor(new RegExp(`^gave up ${runId}: `));
    expect(line).toContain('job stalled more than allowable limit');
    expect(line).toContain('2 worker(s) lost under it');
    last.child.kill('SIGTERM');
    await last.exited;
    // Failed for good without reaching the handler a third time.
    expect(last.lines.filter((l) => l.startsWith('picked'))).toEqual([]);
    const admin = new Queue(queueName, { connection: { url: REDIS_URL }, prefix });
    try {
      expect(await admin.getJobState(runId)).toBe('failed');
    } finally {
      await admin.close();
    }
    await producer.close();
  });
});
