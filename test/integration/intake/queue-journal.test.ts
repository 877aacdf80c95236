// The in-process queue with its journal: what it accepted and did not settle is on disk,
// and a queue opened after a crash runs it under the same ids.
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Trigger } from '../../../src/agent/run.js';
import { createLocalRunQueue, openQueueJournal, type RunQueue } from '../../../src/intake/index.js';
import { runQueueContract } from '../../contract/run-queue.contract.js';

const root = mkdtempSync(join(tmpdir(), 'mlops-journal-'));
let n = 0;
const freshDir = () => join(root, `q${++n}`);
afterAll(() => rmSync(root, { recursive: true, force: true }));

runQueueContract('local with a journal', {
  make: async (options) => createLocalRunQueue({ ...options, journal: openQueueJournal(freshDir(), () => undefined) }),
  destroy: async (q) => {
    await q.close();
  },
});

const alert = (group: string): Trigger => ({
  kind: 'alert',
  principal: { id: 'agent:alertmanager', roles: [] },
  alertName: 'DriftHigh',
  text: `DriftHigh ${group}`,
  data: { status: 'firing', groupKey: group },
});
const files = (dir: string) => (existsSync(dir) ? readdirSync(dir).sort() : []);

describe('the in-process queue journal', () => {
  it('runs, after a crash, what the dead queue accepted and had not settled, under the same ids and keys', async () => {
    const dir = freshDir();
    const first = createLocalRunQueue({ journal: openQueueJournal(dir, () => undefined) });
    const never = new Promise<void>(() => {});
    first.process(async () => never, { concurrency: 1 });
    const a = await first.enqueue(alert('g1'), { dedupeKey: 'g1' });
    const b = await first.enqueue(alert('g2'), { dedupeKey: 'g2' });
    expect(files(dir)).toEqual([`${a.runId}.json`, `${b.runId}.json`].sort());
    // The process dies: the queue object is simply dropped, its handler never settles.

    const seen: [string, string | undefined][] = [];
    let settle!: () => void;
    const bothSeen = new Promise<void>((r) => (settle = r));
    const second: RunQueue = createLocalRunQueue({ journal: openQueueJournal(dir, () => undefined) });
    // A repeat of g2 arriving before the restarted queue ran it joins the run it already holds.
    expect(await second.enqueue(alert('g2'), { dedupeKey: 'g2' })).toEqual({ runId: b.runId, coalesced: true });
    second.process(
      async (runId, trigger) => {
        seen.push([runId, trigger?.text]);
        if (seen.length === 2) settle();
      },
      { concurrency: 1 },
    );
    await bothSeen;
    expect(seen).toEqual([
      [a.runId, 'DriftHigh g1'],
      [b.runId, 'DriftHigh g2'],
    ]);
    await second.close();
    expect(files(dir)).toEqual([]);
    await first.close({ force: true });
  });

  it("keeps a parked run's alert group across a restart, until the run is over", async () => {
    const dir = freshDir();
    const first = createLocalRunQueue({ journal: openQueueJournal(dir, () => undefined) });
    let parked!: () => void;
    const didPark = new Promise<void>((r) => (parked = r));
    first.process(
      async () => {
        setImmediate(parked);
        return 'parked';
      },
      { concurrency: 1 },
    );
    const run = await first.enqueue(alert('g1'), { dedupeKey: 'g1' });
    await didPark;
    await first.close();
    expect(files(dir)).toEqual([`${run.runId}.held`]);

    const second = createLocalRunQueue({ journal: openQueueJournal(dir, () => undefined) });
    expect(await second.enqueue(alert('g1'), { dedupeKey: 'g1' })).toEqual({ runId: run.runId, coalesced: true });
    let over!: () => void;
    const isOver = new Promise<void>((r) => (over = r));
    second.process(
      async () => {
        setImmediate(over);
      },
      { concurrency: 1 },
    );
    await second.resume(run.runId);
    await isOver;
    await second.close();
    expect(files(dir)).toEqual([]);
    const third = createLocalRunQueue({ journal: openQueueJournal(dir, () => undefined) });
    expect(await third.enqueue(alert('g1'), { dedupeKey: 'g1' })).toMatchObject({ coalesced: false });
    await third.close({ force: true });
  });

  it('sets an unreadable file aside, says so, and queues the rest', async () => {
    const dir = freshDir();
    const first = createLocalRunQueue({ journal: openQueueJournal(dir, () => undefined) });
    const { runId } = await first.enqueue(alert('g1'));
    await first.close({ force: true });
    writeFileSync(join(dir, 'run_mx0_0000beef.json'), '{"runId": "run_mx0_0000beef", "trig');
    const unreadable: string[] = [];
    const journal = openQueueJournal(dir, (file, err) => unreadable.push(`${file}: ${String(err)}`));
    expect(journal.left.map((e) => e.runId)).toEqual([runId]);
    expect(unreadable).toEqual([expect.stringMatching(/run_mx0_0000beef\.json\.unreadable: SyntaxError/)]);
    expect(files(dir)).toContain('run_mx0_0000beef.json.unreadable');
  });

  it('refuses a trigger it cannot make durable with a retryable error, and holds nothing for it', async () => {
    const dir = freshDir();
    const queue = createLocalRunQueue({ journal: openQueueJournal(dir, () => undefined) });
    try {
      // A file where the journal's directory should be: no write can land (even as root).
      writeFileSync(dir, 'not a directory');
      await expect(queue.enqueue(alert('g1'), { dedupeKey: 'g1' })).rejects.toMatchObject({
        retryable: true,
        message: expect.stringContaining('could not be written to the queue journal'),
      });
      expect(await queue.depth()).toBe(0);
      // The key is free again: the retry Alertmanager sends starts a run.
      rmSync(dir);
      expect(await queue.enqueue(alert('g1'), { dedupeKey: 'g1' })).toMatchObject({ coalesced: false });
      expect(await queue.depth()).toBe(1);
    } finally {
      await queue.close({ force: true });
    }
  });
});
