// One real run's evidence, end to end with the built command: the demo's incident signed
// with a key from `audit keygen`, exported, verified on its own elsewhere with only the
// public key, and its HTML report opened in headless Chromium.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { EvidenceBundle } from '../../src/audit/index.js';
import { openChromium } from '../support/chromium.js';
import { runCli } from '../support/run-cli.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function dir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'mlops-evidence-e2e-'));
  dirs.push(d);
  return d;
}

describe('the evidence of one run (the built command and headless Chromium)', () => {
  it('exports a bundle that verifies offline with the public key alone, and a report page an auditor can read', async () => {
    const home = await dir();
    const keygen = await runCli(['audit', 'keygen', '--out', join(home, 'keys', 'audit.key')], { cwd: home });
    expect(keygen.code).toBe(0);
    expect(keygen.stdout).toMatch(/key id [0-9a-f]{16}/);
    const env = { MLOPS_AGENT_HOME: home, MLOPS_AGENT_AUDIT_SIGNING_KEY: join(home, 'keys', 'audit.key') };

    const demo = await runCli(['demo', '--approve-as', 'user:alice,user:carol'], {
      env,
      cwd: home,
      timeoutMs: 240_000,
    });
    expect(demo.code).toBe(0);
    const runId = /run (run_[a-z0-9_]+) succeeded/.exec(demo.stdout)?.[1];
    expect(runId).toBeDefined();

    const exported = await runCli(
      ['audit', 'export', '--run', runId!, '--out', 'bundle.json', '--html', 'report.html'],
      { env, cwd: home },
    );
    expect(exported.stderr).toBe('');
    expect(exported.code).toBe(0);
    expect(exported.stdout).toContain(`evidence bundle verified: run ${runId}`);

    // Elsewhere: no home, no config, no signing key; only the bundle and the public key.
    const auditor = await dir();
    await writeFile(join(auditor, 'bundle.json'), await readFile(join(home, 'bundle.json')));
    await writeFile(join(auditor, 'audit.pub'), await readFile(join(home, 'keys', 'audit.key.pub')));
    const verified = await runCli(['audit', 'verify', '--bundle', 'bundle.json', '--public-key', 'audit.pub'], {
      cwd: auditor,
      env: { MLOPS_AGENT_HOME: join(auditor, 'none') },
    });
    expect(verified.code).toBe(0);
    expect(verified.stdout).toMatch(
      new RegExp(
        `^evidence bundle verified: run ${runId}, \\d+ of its entries in seq 1 to \\d+, proven by the checkpoint \\(shutdown, signed by key [0-9a-f]{16}`,
      ),
    );

    // One approval vote changed in the auditor's copy: the bundle no longer verifies.
    const bundle = JSON.parse(await readFile(join(auditor, 'bundle.json'), 'utf8')) as EvidenceBundle;
    const vote = bundle.proof.lines.findIndex((l) => l.includes('"approval.vote"'));
    bundle.proof.lines[vote] = bundle.proof.lines[vote]!.replace('user:alice', 'user:mallory');
    await writeFile(join(auditor, 'edited.json'), JSON.stringify(bundle));
    const broken = await runCli(['audit', 'verify', '--bundle', 'edited.json', '--public-key', 'audit.pub'], {
      cwd: auditor,
      env: { MLOPS_AGENT_HOME: join(auditor, 'none') },
    });
    expect(broken.code).toBe(3);
    expect(broken.stdout).toContain('evidence bundle BROKEN');

    const browser = await openChromium();
    try {
      const page = await browser.context.newPage();
      const requests: string[] = [];
      page.on('request', (req) => requests.push(req.url()));
      await page.goto(`file://${join(home, 'report.html')}`);
      const shot = await page.screenshot({ fullPage: true, path: join(home, 'report.png') });
      expect(shot.subarray(1, 4).toString()).toBe('PNG');
      expect(shot.length).toBeGreaterThan(50_000);
      // The page asked for nothing but itself.
      expect(requests).toEqual([`file://${join(home, 'report.html')}`]);
      const text = await page.locator('body').innerText();
      expect(await page.title()).toBe(`Evidence report: run ${runId}`);
      expect(text).toMatch(
        /Verified: entries 1 to \d+ are exactly as checkpoint seq \d+ states, signed by key [0-9a-f]{16}/,
      );
      expect(text).toContain('ModelDriftDetected firing');
      expect(text).toMatch(/require_approval by approve-production-full-promotion/);
      expect(text).toMatch(/user:alice\s+grant\s+ml-leads/);
      expect(text).toMatch(/user:carol\s+grant\s+risk-officers/);
      expect(text).toContain('granted by user:alice and user:carol');
      // The drifted data passes its contract: drift is all that was found.
      expect(text).toMatch(/credit-recent\s+\S+\s+4000\s+credit\s+passed \(drift only\)/);
      expect(text).toContain('credit-risk v2');
      expect(text).toMatch(/canary v2 against stable v1, promoted/);
      const charts = await page
        .locator('svg[role="img"]')
        .evaluateAll((svgs) => svgs.map((s) => s.getAttribute('aria-label')));
      expect(charts).toContain('data and model lineage');
      expect(charts.filter((c) => c?.includes(': psi'))).toHaveLength(1);
      expect(charts).toEqual(expect.arrayContaining(['canary_requests', 'error_rate', 'score_psi']));
      // The charts are drawn: the lineage has a box per version and the drift bars have width.
      expect(await page.locator('svg[aria-label="data and model lineage"] rect').count()).toBeGreaterThanOrEqual(4);
      const bar = await page.locator('svg[aria-label*=": psi"] rect').first().boundingBox();
      expect(bar!.width).toBeGreaterThan(0);
    } finally {
      await browser.close();
    }
  }, 300_000);
});
