import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createFileApprovalStore, createRedisApprovalStore, type ApprovalStore } from '../../../src/approvals/index.js';
import { approvalStoreContract, sampleApproval } from '../../contract/approval-store.contract.js';
import { manualClock } from '../../support/manual-clock.js';
import { REDIS_URL, uniqueNames, wipe } from '../intake/redis-helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'mlops-approvals-'));
const names = uniqueNames();
const opened: ApprovalStore[] = [];

afterAll(async () => {
  await Promise.all(opened.map((s) => s.close()));
  rmSync(dir, { recursive: true, force: true });
  await wipe(names.prefix, names.queueName);
});

approvalStoreContract('files', async () => createFileApprovalStore(join(dir, `store-${opened.length}`)));
approvalStoreContract('redis', async () => {
  const store = createRedisApprovalStore({ connection: REDIS_URL, prefix: names.prefix });
  opened.push(store);
  return store;
});

describe('the file approval store', () => {
  it('prunes one-time keys once their memory has run out, keeping those still inside it', async () => {
    const clock = manualClock();
    const storeDir = join(dir, 'prune');
    const store = createFileApprovalStore(storeDir, { clock });
    const tenMinutes = 10 * 60_000;
    for (let i = 0; i < 5; i++) expect(await store.claimOnce(`slack:action:U1:approve:${i}`, tenMinutes)).toBe(true);
    expect(readdirSync(join(storeDir, 'once'))).toHaveLength(5);
    clock.advance(tenMinutes - 1);
    // Inside the window: a replay is refused.
    expect(await store.claimOnce('slack:action:U1:approve:0', tenMinutes)).toBe(false);
    // Pruning runs at most once a minute.
    clock.advance(60_000);
    expect(await store.claimOnce('slack:action:U1:approve:later', tenMinutes)).toBe(true);
    // The five expired keys are gone; only the new one remains.
    expect(readdirSync(join(storeDir, 'once'))).toHaveLength(1);
    expect(await store.claimOnce('slack:action:U1:approve:later', tenMinutes)).toBe(false);
  });

  it('refuses an approval written by an unknown schema version, naming the file', async () => {
    const storeDir = join(dir, 'versions');
    const store = createFileApprovalStore(storeDir);
    const a = sampleApproval();
    await store.create(a);
    writeFileSync(join(storeDir, `${a.id}.json`), JSON.stringify({ ...a, schemaVersion: 7 }));
    await expect(store.get(a.id)).rejects.toThrow(
      new RegExp(`${a.id}.json: approval schema version 7 is not supported`),
    );
  });
});
