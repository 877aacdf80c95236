// Child process for crash.test.ts: appends as fast as it can and prints each seq once its
// append has resolved, until the parent kills it.
import { openFileAuditLog } from '../../../src/audit/index.js';

const file = process.argv[2];
if (!file) throw new Error('usage: append-until-killed.ts <audit file>');
const log = await openFileAuditLog({ file });
let i = 0;
const worker = async (): Promise<void> => {
  for (;;) {
    const entry = await log.append({
      runId: 'crash',
      principal: 'child',
      kind: 'planner.turn',
      data: { i: i++, pad: 'x'.repeat(i % 500) },
    });
    process.stdout.write(`${entry.seq}\n`);
  }
};
await Promise.all([worker(), worker(), worker(), worker()]);
