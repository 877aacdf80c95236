import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createFileApprovalStore, createRedisApprovalStore, type ApprovalStore } from '../../../src/approvals/index.js';
import { approvalStoreContract, sampleApproval } from '../../contract/approval-store.contract.js';
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
  it('refuses an approval written by an unknown schema version, naming the file', async () => {
    const storeDir = join(dir, 'versions');
    const store = createFileApprovalStore(storeDir);
    const a = sampleApproval();
    await store.create(a);
    writeFileSync(join(storeDir, `${a.id}.json`), JSON.stringify({ ...a, schemaVersion: 7 }));
    await expect(store.get(a.id)).rejects.toThrow(new RegExp(`${a.id}.json: approval schema version 7 is not supported`));
  });
});
