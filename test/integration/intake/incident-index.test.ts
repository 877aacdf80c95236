// The incident index in its three stores: what it keeps, what it forgets (resolved alerts
// after a day, firing ones after 30 days), and, for files and Redis, that it outlives the
// process that wrote it.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import {
  createMemoryIncidentIndex,
  createRedisIncidentIndex,
  openFileIncidentIndex,
  type AlertRecord,
  type IncidentIndex,
} from '../../../src/intake/index.js';
import { REDIS_URL, uniqueNames } from './redis-helpers.js';

const record = (key: string, extra: Partial<AlertRecord> = {}): AlertRecord => ({
  schemaVersion: 1,
  key,
  startsAt: '2026-11-23T16:00:00Z',
  status: 'firing',
  runId: 'run_a',
  handledAt: new Date().toISOString(),
  resolvedAt: null,
  ...extra,
});
const dirs: string[] = [];
const { prefix } = uniqueNames();
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
  const redis = new Redis(REDIS_URL);
  // Each Redis case has a prefix of its own beginning with the file's.
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length) await redis.del(...keys);
  await redis.quit();
});

function contract(
  name: string,
  open: () => Promise<{ index: IncidentIndex; reopen(): Promise<IncidentIndex> | null }>,
) {
  describe(`the incident index in ${name}`, () => {
    it('keeps which run handles each alert, replacing a record of the same alert', async () => {
      const { index, reopen } = await open();
      expect(await index.get(['am:a', 'am:b'])).toEqual([undefined, undefined]);
      await index.put([record('am:a'), record('am:b', { runId: 'run_b' })]);
      await index.put([record('am:a', { status: 'resolved', resolvedAt: new Date().toISOString() })]);
      const [a, b] = await index.get(['am:a', 'am:b']);
      expect([a?.status, b?.runId]).toEqual(['resolved', 'run_b']);
      await index.close();
      const again = await reopen();
      if (again) {
        expect((await again.get(['am:b']))[0]).toMatchObject({ runId: 'run_b', status: 'firing' });
        await again.close();
      }
    });

    it('forgets a resolved alert after a day and a firing one after 30 days', async () => {
      const { index } = await open();
      const old = (days: number) => new Date(Date.now() - days * 86_400_000).toISOString();
      await index.put([
        record('am:r', { status: 'resolved', handledAt: old(3), resolvedAt: old(2) }),
        record('am:f', { handledAt: old(31) }),
        record('am:k', { handledAt: old(29) }),
      ]);
      const found = await index.get(['am:r', 'am:f', 'am:k']);
      expect(found.map((r) => r?.key)).toEqual([undefined, undefined, 'am:k']);
      await index.close();
    });
  });
}

contract('memory', async () => ({ index: createMemoryIncidentIndex(), reopen: () => null }));
contract('files', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'mlops-incidents-'));
  dirs.push(dir);
  return { index: openFileIncidentIndex(dir), reopen: async () => openFileIncidentIndex(dir) };
});
contract('redis', async () => {
  const p = `${prefix}-${Math.random().toString(36).slice(2, 8)}`;
  return {
    index: createRedisIncidentIndex({ connection: REDIS_URL, prefix: p }),
    reopen: async () => createRedisIncidentIndex({ connection: REDIS_URL, prefix: p }),
  };
});
