import { existsSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { UpstreamError } from '../../../src/errors.js';
import { openFileAuditLog } from '../../../src/audit/index.js';
import { useTempDir } from './temp-dir.js';

const tempDir = useTempDir();

// /dev/full is a real device on which every write fails with ENOSPC, like a full disk.
describe.skipIf(!existsSync('/dev/full'))('an audit log on a disk that fails writes', () => {
  it('rejects the append with audit_failed and then rejects every later append', async () => {
    const file = join(tempDir(), 'audit.jsonl');
    symlinkSync('/dev/full', file);
    const log = await openFileAuditLog({ file });

    const first = log.append({ runId: 'r', principal: 'p', kind: 'execution.started', data: {} });
    await expect(first).rejects.toBeInstanceOf(UpstreamError);
    await expect(first).rejects.toMatchObject({ code: 'audit_failed', retryable: false, service: 'audit' });
    await expect(first).rejects.toThrow(/ENOSPC/);
    expect(log.failed).toBeInstanceOf(UpstreamError);
    expect(log.lastSeq()).toBe(0);

    const later = log.append({ runId: 'r', principal: 'p', kind: 'execution.finished', data: {} });
    await expect(later).rejects.toMatchObject({ code: 'audit_failed', retryable: false });
    await expect(later).rejects.toThrow(/failed earlier.*ENOSPC/);
    await log.close();
  });

  it('rejects every append that was queued behind the failed write', async () => {
    const file = join(tempDir(), 'audit.jsonl');
    symlinkSync('/dev/full', file);
    const log = await openFileAuditLog({ file });
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, (_, i) =>
        log.append({ runId: null, principal: 'p', kind: 'call.proposed', data: { i } }),
      ),
    );
    expect(results.every((r) => r.status === 'rejected' && (r.reason as UpstreamError).code === 'audit_failed')).toBe(
      true,
    );
    await log.close();
  });
});
