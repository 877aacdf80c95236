// Evidence bundles: built from a real file log, checked on their own with the public key,
// and refused when anything in them was changed.
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  buildEvidenceBundle,
  generateSigningKeyPair,
  keyRing,
  loadSigningKey,
  openFileAuditLog,
  openFileAuditReader,
  renderEvidenceReport,
  sealEntry,
  verifyEvidenceBundle,
  type AuditEntry,
  type AuditLog,
  type CheckpointSigner,
  type EvidenceBundle,
} from '../../../src/audit/index.js';
import { appendDriftRun } from '../../support/audit-run.js';
import { useTempDir } from './temp-dir.js';

const tempDir = useTempDir();

function key(dir: string, name = 'signing.key'): CheckpointSigner {
  const file = join(dir, name);
  writeFileSync(file, generateSigningKeyPair().privatePem);
  chmodSync(file, 0o600);
  return loadSigningKey(file);
}

/** A log holding run-A interleaved with another run, closed (so a shutdown checkpoint covers it). */
async function exported(
  options: { close?: boolean } = {},
): Promise<{ bundle: EvidenceBundle; signer: CheckpointSigner; log: AuditLog; file: string }> {
  const dir = tempDir();
  const file = join(dir, 'audit.jsonl');
  const signer = key(dir);
  const log = await openFileAuditLog({ file, checkpoints: { signer, everyMs: 0 } });
  let other = 0;
  await log.append({
    runId: 'run-B',
    principal: 'user:bob',
    kind: 'run.started',
    data: { trigger: { kind: 'chat', text: 'hello' } },
  });
  await appendDriftRun(log, 'run-A', () =>
    log.append({ runId: 'run-B', principal: 'user:bob', kind: 'planner.turn', data: { i: other++ } }),
  );
  if (options.close !== false) await log.close();
  const reader = openFileAuditReader(file);
  const bundle = await buildEvidenceBundle({
    reader,
    runId: 'run-A',
    keys: keyRing([signer.publicKey]),
    now: new Date('2026-12-01T12:00:00Z'),
  });
  return { bundle, signer, log, file };
}

const clone = (b: EvidenceBundle): EvidenceBundle => JSON.parse(JSON.stringify(b)) as EvidenceBundle;

describe('an evidence bundle', () => {
  it('holds the run record, every entry from its first to a signed checkpoint, and verifies on its own', async () => {
    const { bundle, signer } = await exported();
    expect(bundle.proof.firstSeq).toBe(2);
    expect(bundle.proof.lastSeq).toBe(bundle.proof.checkpoint!.seq);
    expect(bundle.proof.lines).toHaveLength(bundle.proof.lastSeq - bundle.proof.firstSeq + 1);
    const r = bundle.record;
    expect(r.trigger).toMatchObject({ kind: 'alert', alertName: 'ModelDriftDetected' });
    expect(r.startedBy).toBe('agent:alertmanager');
    expect(r.turns).toHaveLength(1);
    expect(r.calls.map((c) => [c.tool, c.decisions.map((d) => `${d.effect}:${d.ruleId}`)])).toEqual([
      ['check_data_quality', ['allow:allow-reads']],
      ['trigger_retrain', ['allow:allow-retrain']],
      ['deploy_canary', ['require_approval:approve-production-full-promotion']],
    ]);
    expect(r.approvals).toEqual([
      expect.objectContaining({
        approvalId: 'apr_1',
        callId: 'call_3',
        votes: [
          expect.objectContaining({ by: 'user:alice', verdict: 'grant', roles: ['ml-leads'], via: 'slack' }),
          expect.objectContaining({ by: 'user:carol', verdict: 'grant', roles: ['risk-officers'] }),
        ],
        outcomes: [
          expect.objectContaining({ kind: 'granted', by: 'user:carol' }),
          expect.objectContaining({ kind: 'consumed' }),
        ],
      }),
    ]);
    expect(r.dataQuality).toEqual([
      expect.objectContaining({
        dataset: 'credit-recent',
        dataVersion: 'd'.repeat(64),
        contract: 'credit',
        reportHash: 'e'.repeat(64),
        passed: true,
        verdict: { failedChecks: [], softFailures: ['income.range'], driftOnly: false, drifted: true },
        violations: [expect.objectContaining({ rule: 'income.range', severity: 'soft', rowsAffected: 3 })],
      }),
    ]);
    expect(r.models.find((m) => m.version === '2')).toMatchObject({
      model: 'credit-risk',
      dataset: 'credit-recent',
      trainingJobId: 'job-1',
      promotable: true,
      roles: expect.arrayContaining(['trained', 'canary']),
    });
    expect(r.canaries.at(-1)).toMatchObject({
      status: 'promoted',
      canaryVersion: '2',
      analyses: expect.arrayContaining([expect.objectContaining({ trafficPercent: 25 })]),
    });
    expect(r.outcome).toMatchObject({ status: 'succeeded' });
    // Other runs' entries are in the proof (the chain needs them), not in the record.
    expect(r.timeline.every((t) => t.seq >= 2)).toBe(true);
    expect(bundle.proof.lines.some((l) => l.includes('"runId":"run-B"'))).toBe(true);

    const result = verifyEvidenceBundle(JSON.parse(JSON.stringify(bundle)), keyRing([signer.publicKey]));
    expect(result).toMatchObject({ status: 'proven', runId: 'run-A', runEntries: 17, problems: [] });
  });

  it('is broken when an entry in the proof was edited', async () => {
    const { bundle, signer } = await exported();
    const b = clone(bundle);
    const i = b.proof.lines.findIndex((l) => l.includes('allow-reads'));
    b.proof.lines[i] = b.proof.lines[i]!.replace('allow-reads', 'allow-every');
    const result = verifyEvidenceBundle(b, keyRing([signer.publicKey]));
    expect(result.status).toBe('broken');
    expect(result.problems[0]).toBe(
      `the chain segment does not hold: entry ${b.proof.firstSeq + i}: the entry hash does not match its contents: the entry was edited`,
    );
  });

  it('is broken when the proof was rewritten with recomputed hashes: the checkpoint no longer matches', async () => {
    const { bundle, signer } = await exported();
    const b = clone(bundle);
    // Re-hash every entry from the third on, with one vote's principal changed.
    let prevHash = (JSON.parse(b.proof.lines[1]!) as { hash: string }).hash;
    for (let i = 2; i < b.proof.lines.length; i++) {
      const { hash: _h, ...entry } = JSON.parse(
        b.proof.lines[i]!.replace('"user:alice"', '"user:mallory"'),
      ) as AuditEntry;
      const sealed = sealEntry({ ...entry, prevHash });
      b.proof.lines[i] = sealed.line;
      prevHash = sealed.entry.hash;
    }
    const result = verifyEvidenceBundle(b, keyRing([signer.publicKey]));
    expect(result.status).toBe('broken');
    expect(result.problems.join('\n')).toMatch(/does not match the proof's last entry/);
  });

  it('is broken when its record was edited to say something its entries do not', async () => {
    const { bundle, signer } = await exported();
    const b = clone(bundle);
    b.record.approvals[0]!.votes[0]!.by = 'user:nobody';
    expect(verifyEvidenceBundle(b, keyRing([signer.publicKey]))).toMatchObject({
      status: 'broken',
      problems: [expect.stringContaining('the record in the bundle differs')],
    });
  });

  it('is broken when the checkpoint was re-signed with another key and not proven without the right key', async () => {
    const { bundle, signer } = await exported();
    const other = key(tempDir(), 'other.key');
    expect(verifyEvidenceBundle(bundle, keyRing([other.publicKey]))).toMatchObject({
      status: 'not_covered',
      notes: expect.arrayContaining([expect.stringContaining('which was not given')]),
    });
    const b = clone(bundle);
    b.proof.checkpoint = {
      ...b.proof.checkpoint!,
      keyId: signer.keyId,
      signature: Buffer.from('forged').toString('base64'),
    };
    expect(verifyEvidenceBundle(b, keyRing([signer.publicKey]))).toMatchObject({
      status: 'broken',
      problems: [expect.stringContaining('signature does not verify')],
    });
  });

  it('says the run is not yet covered when no signed checkpoint came after its last entry', async () => {
    const { bundle, signer, log } = await exported({ close: false });
    expect(bundle.proof.checkpoint).toBeNull();
    expect(verifyEvidenceBundle(bundle, keyRing([signer.publicKey]))).toMatchObject({
      status: 'not_covered',
      notes: [expect.stringContaining('no signed checkpoint covered')],
    });
    await log.close();
  });

  it('names a run without entries', async () => {
    const dir = tempDir();
    const file = join(dir, 'audit.jsonl');
    const log = await openFileAuditLog({ file });
    await log.append({ runId: 'run-x', principal: 'p', kind: 'run.started', data: {} });
    await log.close();
    await expect(
      buildEvidenceBundle({
        reader: openFileAuditReader(file),
        runId: 'run-missing',
        keys: keyRing([]),
        now: new Date(),
      }),
    ).rejects.toMatchObject({
      code: 'not_found',
      message: expect.stringContaining('no audit entries for run run-missing'),
    });
  });
});

describe('the HTML report of a bundle', () => {
  it('is one page with no script and no outside request, showing what the entries say with markup escaped', async () => {
    const { bundle, signer } = await exported();
    const html = renderEvidenceReport(bundle, verifyEvidenceBundle(bundle, keyRing([signer.publicKey])));
    expect(html).not.toMatch(/<script/i);
    expect(html).toContain('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;');
    expect(html).not.toMatch(/(src|href)="(https?:)?\/\//);
    expect(html).toContain("default-src 'none'");
    expect(html).toMatch(/Verified: entries 2 to \d+ are exactly as checkpoint seq \d+ states/);
    expect(html).toContain('user:alice');
    expect(html.match(/<svg/g)!.length).toBeGreaterThanOrEqual(4);
  });

  it('renders from what the proof says, not from an edited record, and says it is broken', async () => {
    const { bundle, signer } = await exported();
    const b = clone(bundle);
    b.record.approvals[0]!.votes[0]!.by = 'user:nobody';
    const html = renderEvidenceReport(b, verifyEvidenceBundle(b, keyRing([signer.publicKey])));
    expect(html).toContain('BROKEN: this bundle does not verify.');
    expect(html).not.toContain('user:nobody');
    expect(html).toContain('user:alice');
  });
});
