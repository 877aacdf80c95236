// The ApprovalStore contract: every adapter (files, Redis) passes the same suite.
import { describe, expect, it } from 'vitest';
import { APPROVAL_SCHEMA_VERSION, type Approval, type ApprovalStore } from '../../src/approvals/index.js';
import { argsHashOf } from '../../src/gate/index.js';
import { NO_RISK } from '../../tools/index.js';

let n = 0;
export function sampleApproval(overrides: Partial<Approval> = {}): Approval {
  n += 1;
  const args = { model: 'credit-risk', version: '2', environment: 'production', trafficPercent: 25 };
  return {
    schemaVersion: APPROVAL_SCHEMA_VERSION,
    id: `apr_t${n.toString(36)}_${(0x10000000 + n).toString(16)}`,
    runId: 'run_test',
    callId: 'call_1',
    tool: 'deploy_canary',
    args,
    argsHash: argsHashOf(args),
    idempotencyKey: 'run_test:call_1',
    risk: { ...NO_RISK, environment: 'production', trafficPercent: 25, trafficChangePercent: 20 },
    preview: { now: 'stable v1 95%, canary v2 5%', after: 'stable v1 75%, canary v2 25%' },
    stateHash: 'a'.repeat(64),
    rule: { id: 'approve-production-canary-above-5', reason: 'needs an ML lead', policy: 'default' },
    required: { roles: ['ml-leads'], count: 1 },
    requestedBy: { id: 'agent:alertmanager', roles: [] },
    createdAt: new Date(Date.parse('2026-01-01T00:00:00Z') + n).toISOString(),
    expiresAt: '2026-01-01T04:00:00.000Z',
    status: 'pending',
    votes: [],
    resolvedAt: null,
    resolution: null,
    consumedAt: null,
    outcome: null,
    notices: {},
    ...overrides,
  };
}

export function approvalStoreContract(name: string, open: () => Promise<ApprovalStore>): void {
  describe(`ApprovalStore contract: ${name}`, () => {
    it('stores an approval and reads it back as it was', async () => {
      const store = await open();
      const a = sampleApproval();
      await store.create(a);
      expect(await store.get(a.id)).toEqual(a);
    });

    it('refuses to create the same id twice, keeping the first', async () => {
      const store = await open();
      const a = sampleApproval();
      await store.create(a);
      await expect(store.create({ ...a, tool: 'rollback' })).rejects.toThrow(/already exists/);
      expect((await store.get(a.id))?.tool).toBe('deploy_canary');
    });

    it('answers undefined for an unknown id and refuses a malformed one', async () => {
      const store = await open();
      expect(await store.get('apr_zzzz_00000000')).toBeUndefined();
      expect(await store.update('apr_zzzz_00000000', (a) => a)).toBeUndefined();
      await expect(store.get('../../etc/passwd')).rejects.toThrow(/not an approval id/);
    });

    it('lists by status and by run, oldest first, and moves an approval between statuses', async () => {
      const store = await open();
      const first = sampleApproval({ runId: 'run_list_a' });
      const second = sampleApproval({ runId: 'run_list_b' });
      await store.create(second);
      await store.create(first);
      const pending = (await store.list({ status: 'pending' })).filter((a) => a.id === first.id || a.id === second.id);
      // `first` was made first (earlier createdAt) but stored second: the order is by creation.
      expect(pending.map((a) => a.id)).toEqual([first.id, second.id]);
      await store.update(first.id, (a) => ({ ...a, status: 'granted' }));
      expect((await store.list({ status: 'pending' })).some((a) => a.id === first.id)).toBe(false);
      expect((await store.list({ status: 'granted' })).some((a) => a.id === first.id)).toBe(true);
      expect((await store.list({ runId: 'run_list_b' })).map((a) => a.id)).toEqual([second.id]);
    });

    it('leaves the approval as it was when the change returns null', async () => {
      const store = await open();
      const a = sampleApproval();
      await store.create(a);
      const result = await store.update(a.id, () => null);
      expect(result).toEqual({ approval: a, changed: false });
    });

    it('loses no update when many writers change one approval at once (compare-and-set)', async () => {
      const store = await open();
      const a = sampleApproval();
      await store.create(a);
      const voters = Array.from({ length: 20 }, (_, i) => `user:v${i}`);
      await Promise.all(
        voters.map((by) =>
          store.update(a.id, (current) => ({
            ...current,
            votes: [
              ...current.votes,
              { by, roles: ['ml-leads'], verdict: 'grant', comment: null, at: '2026-01-01T00:00:01.000Z', via: 'http' },
            ],
          })),
        ),
      );
      const stored = await store.get(a.id);
      expect(stored?.votes.map((v) => v.by).sort()).toEqual([...voters].sort());
    });

    it('lets exactly one of many concurrent takers consume a grant', async () => {
      const store = await open();
      const a = sampleApproval({ status: 'granted' });
      await store.create(a);
      const results = await Promise.all(
        Array.from({ length: 10 }, (_, i) =>
          store.update(a.id, (current) =>
            current.consumedAt ? null : { ...current, consumedAt: `2026-01-01T00:00:0${i}.000Z` },
          ),
        ),
      );
      expect(results.filter((r) => r?.changed)).toHaveLength(1);
    });

    it('holds an approval across an async transition: each change sees the value before it, and none is lost', async () => {
      const store = await open();
      const a = sampleApproval();
      await store.create(a);
      const seen: number[] = [];
      await Promise.all(
        Array.from({ length: 8 }, (_, i) =>
          store.transition(a.id, async (current) => {
            seen.push(current.votes.length);
            // An audit append takes a while; nobody may write in between.
            await new Promise((resolve) => setTimeout(resolve, 5));
            return {
              ...current,
              votes: [
                ...current.votes,
                {
                  by: `user:t${i}`,
                  roles: ['ml-leads'],
                  verdict: 'grant',
                  comment: null,
                  at: '2026-01-01T00:00:01.000Z',
                  via: 'http',
                },
              ],
            };
          }),
        ),
      );
      expect(seen.sort((x, y) => x - y)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
      expect((await store.get(a.id))?.votes).toHaveLength(8);
    });

    it('leaves the approval as it was when a transition throws or returns null, and frees it for the next', async () => {
      const store = await open();
      const a = sampleApproval();
      await store.create(a);
      await expect(store.transition(a.id, async () => Promise.reject(new Error('audit: disk full')))).rejects.toThrow(
        'audit: disk full',
      );
      expect(await store.get(a.id)).toEqual(a);
      expect(await store.transition(a.id, async () => null)).toEqual({ approval: a, changed: false });
      expect(await store.transition('apr_zzzz_00000000', async (x) => x)).toBeUndefined();
      const next = await store.transition(a.id, async (current) => ({ ...current, status: 'denied' }));
      expect(next?.changed).toBe(true);
      expect((await store.get(a.id))?.status).toBe('denied');
    });

    it('remembers a one-time key: the first claim wins, a replay does not, until the memory runs out', async () => {
      const store = await open();
      const key = `slack:U1:approve:${Math.random()}`;
      expect(await store.claimOnce(key, 200)).toBe(true);
      expect(await store.claimOnce(key, 200)).toBe(false);
      const both = await Promise.all([store.claimOnce(`${key}:x`, 10_000), store.claimOnce(`${key}:x`, 10_000)]);
      expect(both.filter(Boolean)).toHaveLength(1);
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(await store.claimOnce(key, 200)).toBe(true);
    });
  });
}
