// Approvals in Redis, for serve and workers on several machines: one JSON string per
// approval, a set of ids per status, and a sorted set by creation time. Updates are
// compare-and-set in a Lua script (the write lands only if the value is still the one
// read), so concurrent decisions on a shared connection never overwrite each other.
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { sha256Hex } from '../audit/index.js';
import { UpstreamError } from '../errors.js';
import { APPROVAL_STATUSES, checkApprovalId, upgradeApproval, type Approval } from './approval.js';
import type { ApprovalFilter, ApprovalStore } from './approval-store.js';
import { redisCommand as call } from '../redis-command.js';
import { reconnectDelay } from '../redis-client.js';

export interface RedisApprovalStoreOptions {
  /** `redis://host:port/db` */
  connection: string;
  /** Prefix of every key, e.g. `mlops`. */
  prefix: string;
}

// KEYS: approval, by-created, status sets (pending, granted, denied, expired).
// ARGV: expected JSON ('' for create), next JSON, id, status, created score.
const COMPARE_AND_SET = `
local current = redis.call('GET', KEYS[1])
if ARGV[1] == '' then
  if current then return 0 end
elseif current ~= ARGV[1] then
  return 0
end
redis.call('SET', KEYS[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[5], ARGV[3])
for i = 3, #KEYS do redis.call('SREM', KEYS[i], ARGV[3]) end
redis.call('SADD', KEYS[2 + tonumber(ARGV[4])], ARGV[3])
return 1
`;

const MAX_ATTEMPTS = 50;

// Releases a hold only if it is still ours (it may have lapsed and been taken by another).
const RELEASE_HOLD = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

/** How long a transition may hold an approval: an audit append and one write take milliseconds. */
const HOLD_MS = 15_000;
/** How long a transition waits for another's hold before it gives up (retryable). */
const HOLD_WAIT_MS = 10_000;

export function createRedisApprovalStore(options: RedisApprovalStoreOptions): ApprovalStore {
  const { prefix } = options;
  const redis = new Redis(options.connection, { maxRetriesPerRequest: 3, retryStrategy: reconnectDelay });
  redis.on('error', () => {
    // Surfaced through the failing command; this only stops ioredis printing during reconnects.
  });
  const keyOf = (id: string) => `${prefix}:approval:${checkApprovalId(id)}`;
  const byCreated = `${prefix}:approvals:by-created`;
  const statusKey = (s: string) => `${prefix}:approvals:status:${s}`;
  const statusKeys = APPROVAL_STATUSES.map(statusKey);

  async function compareAndSet(expected: string, next: Approval): Promise<boolean> {
    // Lua arrays start at 1 and the status sets start at KEYS[3].
    const statusIndex = APPROVAL_STATUSES.indexOf(next.status) + 1;
    const ok = await call(`writing approval ${next.id}`, () =>
      redis.eval(
        COMPARE_AND_SET,
        2 + statusKeys.length,
        keyOf(next.id),
        byCreated,
        ...statusKeys,
        expected,
        JSON.stringify(next),
        next.id,
        statusIndex,
        Date.parse(next.createdAt) || 0,
      ),
    );
    return ok === 1;
  }

  async function read(id: string): Promise<{ raw: string; approval: Approval } | undefined> {
    const raw = await call(`reading approval ${id}`, () => redis.get(keyOf(id)));
    return raw === null ? undefined : { raw, approval: upgradeApproval(JSON.parse(raw), `redis ${keyOf(id)}`) };
  }

  return {
    async create(approval) {
      if (!(await compareAndSet('', approval))) throw new Error(`approval ${approval.id} already exists`);
    },

    async get(id) {
      return (await read(id))?.approval;
    },

    async list(filter: ApprovalFilter = {}) {
      const ids = filter.status
        ? await call('listing approvals', () => redis.smembers(statusKey(filter.status!)))
        : await call('listing approvals', () => redis.zrange(byCreated, '0', '-1'));
      if (ids.length === 0) return [];
      const raws = await call('reading approvals', () => redis.mget(...ids.map(keyOf)));
      const found: Approval[] = [];
      raws.forEach((raw, i) => {
        if (raw === null) return;
        const approval = upgradeApproval(JSON.parse(raw), `redis ${keyOf(ids[i]!)}`);
        if (!filter.runId || approval.runId === filter.runId) found.push(approval);
      });
      return found.sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id));
    },

    async update(id, change) {
      for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
        const current = await read(id);
        if (!current) return undefined;
        const next = change(structuredClone(current.approval));
        if (next === null) return { approval: current.approval, changed: false };
        if (await compareAndSet(current.raw, next)) return { approval: next, changed: true };
      }
      throw new UpstreamError('redis', `approval ${id} kept changing under ${MAX_ATTEMPTS} attempts to update it`, {
        retryable: true,
      });
    },

    async transition(id, change) {
      const hold = `${prefix}:approval-hold:${checkApprovalId(id)}`;
      const token = randomBytes(8).toString('hex');
      const deadline = Date.now() + HOLD_WAIT_MS;
      let delay = 2;
      while ((await call(`holding approval ${id}`, () => redis.set(hold, token, 'PX', HOLD_MS, 'NX'))) !== 'OK') {
        if (Date.now() > deadline)
          throw new UpstreamError(
            'redis',
            `approval ${id} stayed held by another writer for ${HOLD_WAIT_MS} ms; nothing was changed, try again`,
            { retryable: true },
          );
        await new Promise((resolve) => setTimeout(resolve, delay + Math.floor(Math.random() * delay)));
        delay = Math.min(50, delay * 2);
      }
      try {
        const current = await read(id);
        if (!current) return undefined;
        const next = await change(structuredClone(current.approval));
        if (next === null) return { approval: current.approval, changed: false };
        // Still compare-and-set: a hold that lapsed (a paused process) must not overwrite a newer value.
        if (!(await compareAndSet(current.raw, next))) {
          throw new UpstreamError(
            'redis',
            `approval ${id} changed while it was held (the hold lapsed); this change was not written`,
            { retryable: true },
          );
        }
        return { approval: next, changed: true };
      } finally {
        await call(`releasing approval ${id}`, () => redis.eval(RELEASE_HOLD, 1, hold, token)).catch(() => undefined);
      }
    },

    async claimOnce(key, ttlMs) {
      const reply = await call('remembering a one-time key', () =>
        redis.set(`${prefix}:approvals:once:${sha256Hex(key)}`, '1', 'PX', Math.max(1, Math.round(ttlMs)), 'NX'),
      );
      return reply === 'OK';
    },

    async close() {
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}
