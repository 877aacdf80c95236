import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { sha256Hex } from '../../../src/audit/index.js';
import {
  createFileExecutions,
  createMemoryExecutions,
  createRedisExecutions,
  type Executions,
} from '../../../src/gate/index.js';
import { executionsContract, sampleRecord } from '../../contract/executions.contract.js';
import { REDIS_URL, uniqueNames, wipe } from '../intake/redis-helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'mlops-executions-'));
const names = uniqueNames();
const opened: Executions[] = [];

afterAll(async () => {
  await Promise.all(opened.map((s) => s.close()));
  rmSync(dir, { recursive: true, force: true });
  await wipe(names.prefix, names.queueName);
});

executionsContract('memory', async () => createMemoryExecutions());
executionsContract('files', async () => createFileExecutions(join(dir, `store-${opened.length}`)));
executionsContract('redis', async () => {
  const executions = createRedisExecutions({ connection: REDIS_URL, prefix: names.prefix });
  opened.push(executions);
  return executions;
});

describe('file execution records', () => {
  it('refuse to guess when a record cannot be read, naming the key and what to do', async () => {
    const storeDir = join(dir, 'corrupt');
    const executions = createFileExecutions(storeDir);
    const record = sampleRecord();
    await executions.take(record);
    writeFileSync(join(storeDir, `${sha256Hex(record.key)}.json`), '{"key": "half a rec');
    await expect(executions.find(record.key)).rejects.toThrow(
      `the execution record for ${record.key} in ${storeDir} cannot be read`,
    );
  });
});
