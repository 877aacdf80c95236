// The deployment history as other processes and crashes leave it: a record being appended
// (no newline yet) is not read, a record a crash tore is cut at the next load and the last
// move appended again whole, and a damaged line is named by file and line.
import { appendFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createDeploymentStore,
  type DeploymentState,
  type HistoryRecord,
} from '../../../src/backends/local/deployment-store.js';

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

async function store() {
  const dir = await mkdtemp(join(tmpdir(), 'deployment-store-'));
  dirs.push(dir);
  return { dir, history: join(dir, 'deployment-history.jsonl'), store: createDeploymentStore(dir) };
}

const move = (action: HistoryRecord['action'], version: string): HistoryRecord => ({
  at: '2026-12-06T03:00:00.000Z',
  model: 'credit-risk',
  environment: 'production',
  action,
  by: 'test',
  reason: `${action} v${version}`,
  split: {
    model: 'credit-risk',
    environment: 'production',
    stableVersion: version,
    canaryVersion: null,
    canaryPercent: 0,
    lastKnownGoodVersion: version,
  },
});

const state = (): DeploymentState => ({ schemaVersion: 1, entries: {} });

describe('the deployment history', () => {
  it('reads only whole records: one still being appended is not part of it yet', async () => {
    const { store: s, history } = await store();
    await s.commit(state(), move('serve', '1'));
    await s.commit(state(), move('promote', '2'));
    await appendFile(history, '{"at":"2026-12-06T03:00:01.000Z","model":"credit-r');
    expect((await s.readHistory()).map((r) => r.reason)).toEqual(['serve v1', 'promote v2']);
  });

  it('cuts a record a crash tore at the next load, and appends the last move again whole', async () => {
    const { dir, history } = await store();
    const first = createDeploymentStore(dir);
    await first.commit(state(), move('serve', '1'));
    // The state was saved with its last move; the process died halfway through appending it.
    const last = move('promote', '2');
    await first.save({ ...state(), lastMove: last });
    await appendFile(history, JSON.stringify(last).slice(0, 40));

    const next = createDeploymentStore(dir);
    await next.load();
    expect((await next.readHistory()).map((r) => r.reason)).toEqual(['serve v1', 'promote v2']);
    expect((await readFile(history, 'utf8')).endsWith('\n')).toBe(true);
    await next.commit(state(), move('rollback', '1'));
    expect((await next.readHistory()).map((r) => r.action)).toEqual(['serve', 'promote', 'rollback']);
  });

  it('names the file and line of a damaged record', async () => {
    const { store: s, history } = await store();
    await s.commit(state(), move('serve', '1'));
    await writeFile(history, `${await readFile(history, 'utf8')}not json\n`);
    await expect(s.readHistory()).rejects.toThrow(/deployment-history\.jsonl:2 is not a JSON record/);
  });
});
