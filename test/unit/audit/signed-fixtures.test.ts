// Checkpoints and evidence bundles of schema version 1, written once by an earlier build
// (make-signed-v1.ts): they must keep verifying with the public key alone.
import { copyFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  keyRing,
  loadPublicKey,
  openFileAuditLog,
  verifyEvidenceBundle,
  verifyFileLog,
} from '../../../src/audit/index.js';
import { useTempDir } from './temp-dir.js';

const tempDir = useTempDir();
const fixture = (name: string) => new URL(`../../fixtures/audit/${name}`, import.meta.url).pathname;
const keys = () => keyRing([loadPublicKey(fixture('signed-v1.pub'))]);

describe('schema version 1 fixtures', () => {
  it('a signed file log verifies, proven through its shutdown checkpoint', async () => {
    const report = await verifyFileLog(fixture('signed-v1.jsonl'), { keys: keys() });
    expect(report.ok).toBe(true);
    expect(report.chain).toMatchObject({ ok: true, entries: 17 });
    expect(report.checkpoints.map((c) => `${c.checkpoint.reason}@${c.checkpoint.seq}:${c.verdict}`)).toEqual([
      'periodic@10:holds',
      'shutdown@17:holds',
    ]);
    expect(report.provenThrough).toBe(17);
  });

  it('a signed file log opens at its checkpoint and goes on', async () => {
    const dir = tempDir();
    const file = join(dir, 'audit.jsonl');
    copyFileSync(fixture('signed-v1.jsonl'), file);
    copyFileSync(fixture('signed-v1.jsonl.checkpoints'), `${file}.checkpoints`);
    const log = await openFileAuditLog({ file });
    expect(log.lastSeq()).toBe(17);
    await log.append({ runId: null, principal: 'p', kind: 'k', data: {} });
    await log.close();
    const report = await verifyFileLog(file, { keys: keys() });
    expect(report.ok).toBe(true);
    // The fixture's key signed up to 17; later checkpoints here were unsigned.
    expect(report).toMatchObject({ provenThrough: 17, notCovered: { from: 18, to: 18 } });
  });

  it('an evidence bundle verifies on its own', () => {
    const bundle = JSON.parse(readFileSync(fixture('bundle-v1.json'), 'utf8')) as unknown;
    expect(verifyEvidenceBundle(bundle, keys())).toMatchObject({
      status: 'proven',
      runId: 'run-fixture',
      runEntries: 17,
      problems: [],
    });
  });
});
