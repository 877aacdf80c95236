// The RunStore contract: the file store and the Redis store run these same tests.
import { readFile } from 'node:fs/promises';
import { afterEach, describe, expect, it } from 'vitest';
import type { Run, RunStatus } from '../../src/agent/run.js';
import type { RunStore } from '../../src/agent/run-store.js';
import { UserError } from '../../src/errors.js';

export interface RunStoreFixture {
  make(): Promise<RunStore>;
  destroy(store: RunStore): Promise<void>;
}

function run(id: string, createdAt: string, status: RunStatus = 'running'): Run {
  return {
    schemaVersion: 1,
    id,
    trigger: {
      kind: 'alert',
      principal: { id: 'agent:alertmanager', roles: [] },
      text: 'DriftHigh firing',
      data: { groupKey: '{}:{a="b"}' },
      alertName: 'DriftHigh',
    },
    status,
    planner: 'runbook:drift-retrain',
    fallback: null,
    transcript: [{ kind: 'trigger', trigger: 'alert', text: 'DriftHigh firing', data: null }],
    steps: 0,
    usage: { input: 0, output: 0 },
    answer: null,
    error: null,
    createdAt,
    updatedAt: createdAt,
    endedAt: null,
  };
}

export function runStoreContract(name: string, fixture: RunStoreFixture): void {
  describe(`RunStore contract: ${name}`, () => {
    let store: RunStore | null = null;
    const open = async () => (store = await fixture.make());
    afterEach(async () => {
      if (store) await fixture.destroy(store);
      store = null;
    });

    it('gives back a saved run exactly as it was saved', async () => {
      const s = await open();
      const r = run('run_a', '2026-11-23T10:00:00.000Z');
      await s.save(r);
      expect(await s.get('run_a')).toEqual(r);
    });

    it('answers undefined for a run it never saw', async () => {
      const s = await open();
      expect(await s.get('run_missing')).toBeUndefined();
    });

    it('keeps the latest save of a run', async () => {
      const s = await open();
      const r = run('run_a', '2026-11-23T10:00:00.000Z');
      await s.save(r);
      await s.save({ ...r, status: 'succeeded', answer: 'retrained', steps: 3 });
      expect(await s.get('run_a')).toMatchObject({ status: 'succeeded', answer: 'retrained', steps: 3 });
    });

    it('lists runs oldest first, and by status after their status changed', async () => {
      const s = await open();
      await s.save(run('run_c', '2026-11-23T12:00:00.000Z'));
      await s.save(run('run_a', '2026-11-23T10:00:00.000Z', 'waiting_approval'));
      await s.save(run('run_b', '2026-11-23T11:00:00.000Z'));
      await s.save({ ...run('run_c', '2026-11-23T12:00:00.000Z'), status: 'failed', error: 'boom' });
      await s.save(run('run_d', '2026-11-23T13:00:00.000Z', 'waiting'));
      await s.save({ ...run('run_d', '2026-11-23T13:00:00.000Z'), status: 'waiting_approval' });
      await s.save(run('run_e', '2026-11-23T14:00:00.000Z', 'waiting'));
      expect((await s.list()).map((r) => r.id)).toEqual(['run_a', 'run_b', 'run_c', 'run_d', 'run_e']);
      expect((await s.list({ status: 'waiting' })).map((r) => r.id)).toEqual(['run_e']);
      expect((await s.list({ status: 'running' })).map((r) => r.id)).toEqual(['run_b']);
      expect((await s.list({ status: 'failed' })).map((r) => r.id)).toEqual(['run_c']);
      expect((await s.list({ status: 'waiting_approval' })).map((r) => r.id)).toEqual(['run_a', 'run_d']);
      expect(await s.list({ status: 'succeeded' })).toEqual([]);
    });

    it('pages the newest runs first, by --limit and --since, with their latest status', async () => {
      const s = await open();
      // Saved out of creation order, some twice, one moving status after it was created.
      for (let i = 0; i < 30; i++) {
        const id = `run_${String(i).padStart(2, '0')}`;
        await s.save(
          run(id, `2026-11-23T10:${String(i).padStart(2, '0')}:00.000Z`, i % 3 === 0 ? 'succeeded' : 'running'),
        );
      }
      await s.save({ ...run('run_28', '2026-11-23T10:28:00.000Z'), status: 'failed', error: 'boom' });
      await s.save({ ...run('run_05', '2026-11-23T10:05:00.000Z'), status: 'failed', error: 'boom' });
      const ids = async (q: Parameters<RunStore['recent']>[0]) => (await s.recent(q)).map((r) => r.id);
      expect(await ids({ limit: 3 })).toEqual(['run_29', 'run_28', 'run_27']);
      expect((await s.recent({ limit: 3 }))[1]).toMatchObject({ id: 'run_28', status: 'failed', error: 'boom' });
      expect(await ids({ limit: 100 })).toHaveLength(30);
      expect(await ids({ limit: 100, since: '2026-11-23T10:26:00.000Z' })).toEqual([
        'run_29',
        'run_28',
        'run_27',
        'run_26',
      ]);
      expect(await ids({ limit: 2, status: 'succeeded' })).toEqual(['run_27', 'run_24']);
      expect(await ids({ limit: 10, status: 'failed' })).toEqual(['run_28', 'run_05']);
      expect(await ids({ limit: 10, status: 'running', since: '2026-11-23T10:27:00.000Z' })).toEqual(['run_29']);
      expect(await ids({ limit: 10, status: 'waiting' })).toEqual([]);
      expect(await ids({ limit: 5, since: '2026-11-24T00:00:00.000Z' })).toEqual([]);
    });

    it('pages an empty store as no runs', async () => {
      const s = await open();
      expect(await s.recent({ limit: 20 })).toEqual([]);
    });

    it('refuses a run id that could escape its key or file name', async () => {
      const s = await open();
      await expect(s.get('../etc/passwd')).rejects.toBeInstanceOf(UserError);
      await expect(s.save(run('a b', '2026-11-23T10:00:00.000Z'))).rejects.toBeInstanceOf(UserError);
    });

    it('stores and loads the version 1 fixtures unchanged, a run parked on a training job among them', async () => {
      const s = await open();
      for (const name of ['v1-run.json', 'v1-run-waiting.json']) {
        const fixtureRun = JSON.parse(
          await readFile(new URL(`../fixtures/runs/${name}`, import.meta.url), 'utf8'),
        ) as Run;
        await s.save(fixtureRun);
        expect(await s.get(fixtureRun.id)).toEqual(fixtureRun);
      }
      expect((await s.list({ status: 'waiting' })).map((r) => r.id)).toEqual(['run_fixture_waiting']);
    });
  });
}
