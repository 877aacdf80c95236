import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createPolicyStore, PolicyInvalidError } from '../../../src/policy/index.js';
import { DEFAULT_POLICY, KNOWN_TOOLS, canary, fixture } from './requests.js';

describe('the policy store', () => {
  let dir: string;
  let file: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'policy-store-'));
    file = join(dir, 'policy.yaml');
    await copyFile(DEFAULT_POLICY, file);
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('keeps the previous policy in force when a reload meets a broken file, and says why', async () => {
    const store = await createPolicyStore({ files: [file], knownTools: KNOWN_TOOLS });
    const before = store.current();
    await writeFile(
      file,
      'apiVersion: mlops-agent/v1\nkind: Policy\nrules:\n  - id: x\n    tools: [deploy_canery]\n    effect: allow\n    reason: r\n',
    );
    const result = await store.reload();
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.error).toBeInstanceOf(PolicyInvalidError);
    expect(result.error.message).toContain(`${file}:5:`);
    expect(store.current()).toBe(before);
    expect(store.evaluate(canary('production', 25)).decision.ruleId).toBe('approve-production-canary-above-5');
  });

  it('swaps in the new policy when a reload succeeds', async () => {
    const store = await createPolicyStore({ files: [file], knownTools: KNOWN_TOOLS });
    expect(store.evaluate(canary('production', 3)).decision.effect).toBe('allow');
    await writeFile(
      file,
      'apiVersion: mlops-agent/v1\nkind: Policy\nmetadata: { name: freeze }\nrules:\n  - id: change-freeze\n    tools: "*"\n    effect: deny\n    reason: Change freeze until Monday.\n',
    );
    const result = await store.reload();
    expect(result.ok).toBe(true);
    expect(store.evaluate(canary('production', 3)).decision).toMatchObject({
      effect: 'deny',
      ruleId: 'change-freeze',
      policy: 'freeze',
    });
  });

  it('keeps both enforced and shadow sets when only the new shadow set is broken', async () => {
    const store = await createPolicyStore({
      files: [file],
      shadowFiles: [fixture('shadow-strict.yaml')],
      knownTools: KNOWN_TOOLS,
    });
    const result = await store.reload({
      files: [fixture('roles-only.yaml')],
      shadowFiles: [fixture('bad-duration.yaml')],
    });
    expect(result.ok).toBe(false);
    expect(store.current().files).toEqual([file]);
    expect(store.shadow()?.name).toBe('strict-shadow');
    const { decision, shadow } = store.evaluate(canary('production', 3));
    expect(decision.effect).toBe('allow');
    expect(shadow?.effect).toBe('require_approval');
  });

  it('refuses to start from a broken policy, since there is nothing to fall back on', async () => {
    await expect(
      createPolicyStore({ files: [fixture('unknown-field.yaml')], knownTools: KNOWN_TOOLS }),
    ).rejects.toThrow(/unknown field "efect"/);
  });
});
