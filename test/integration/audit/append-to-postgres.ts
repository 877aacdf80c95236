// Child process for postgres-store.test.ts: one worker appending to a shared PostgreSQL
// chain, several appends in flight; prints each seq once its append resolved.
import { openPostgresAuditLog } from '../../../src/audit/index.js';

const [url, schema, writer, count] = process.argv.slice(2);
if (!url || !schema || !writer || !count)
  throw new Error('usage: append-to-postgres.ts <url> <schema> <writer> <count>');
const log = await openPostgresAuditLog({ url, schema });
let next = 0;
const seqs: number[] = [];
const worker = async (): Promise<void> => {
  while (next < Number(count)) {
    const i = next++;
    const entry = await log.append({
      runId: `worker-${writer}`,
      principal: `worker:${writer}`,
      kind: 'planner.turn',
      data: { i, pid: process.pid },
    });
    seqs.push(entry.seq);
  }
};
await Promise.all([worker(), worker(), worker(), worker()]);
await log.close();
process.stdout.write(`${seqs.join('\n')}\n`);
