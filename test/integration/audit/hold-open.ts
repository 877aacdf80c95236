// Child process for writer-lock.test.ts: opens the audit log, says so, and waits to be killed.
import { openFileAuditLog } from '../../../src/audit/index.js';

const log = await openFileAuditLog({ file: process.argv[2]! });
await log.append({ runId: null, principal: 'test:child', kind: 'test.opened', data: {} });
process.stdout.write('open\n');
setInterval(() => undefined, 1_000);
