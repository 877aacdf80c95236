// Approvals as one JSON file each under <home>/approvals, written atomically (temp file,
// fsync, rename). Updates hold a per-approval lock file, so processes sharing the
// directory (serve, a worker, the CLI) never overwrite each other's votes.
import { readdir, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { sha256Hex } from '../audit/index.js';
import { createFileExclusive, readJsonIfExists, writeFileAtomic } from '../durable-file.js';
import { systemClock, type Clock } from '../clock.js';
import { acquireFileLock } from '../file-lock.js';
import { checkApprovalId, upgradeApproval, type Approval } from './approval.js';
import type { ApprovalFilter, ApprovalStore, UpdateResult } from './approval-store.js';

/** How often claimOnce sweeps out one-time keys whose memory ran out. */
const PRUNE_EVERY_MS = 60_000;

export function createFileApprovalStore(dir: string, options: { clock?: Clock } = {}): ApprovalStore {
  const clock = options.clock ?? systemClock;
  const fileOf = (id: string) => join(dir, `${checkApprovalId(id)}.json`);
  const onceDir = join(dir, 'once');
  let prunedAt = 0;

  /**
   * One-time keys are files; Redis expires its own, here they are removed once their
   * memory has run out (a request that old no longer verifies), so the directory holds
   * only the keys that still matter instead of every click ever made.
   */
  async function pruneOnce(now: number): Promise<void> {
    if (now - prunedAt < PRUNE_EVERY_MS) return;
    prunedAt = now;
    const names = await readdir(onceDir).catch(() => [] as string[]);
    for (const name of names) {
      if (!name.endsWith('.json')) continue;
      const file = join(onceDir, name);
      const until = await readFile(file, 'utf8')
        .then((text) => (JSON.parse(text) as { until?: unknown }).until)
        .catch(() => undefined);
      // Unreadable: being written right now, or torn; only a readable expired key is removed.
      if (typeof until === 'number' && until <= now) await unlink(file).catch(() => undefined);
    }
  }

  async function read(id: string): Promise<Approval | undefined> {
    const file = fileOf(id);
    const raw = await readJsonIfExists<unknown>(file);
    return raw === undefined ? undefined : upgradeApproval(raw, file);
  }

  // The per-approval lock is held across `change`, so an async change (an audit append)
  // sees the value it replaces and no other writer gets in between.
  async function transition(
    id: string,
    change: (current: Approval) => Promise<Approval | null>,
  ): Promise<UpdateResult | undefined> {
    // Approvals are never deleted: one that does not exist now will not before the lock
    // (whose directory may not exist yet either).
    if (!(await read(id))) return undefined;
    const lock = await acquireFileLock(`${fileOf(id)}.lock`, { service: 'approval store' });
    try {
      const current = await read(id);
      if (!current) return undefined;
      const next = await change(structuredClone(current));
      if (next === null) return { approval: current, changed: false };
      await writeFileAtomic(fileOf(id), JSON.stringify(next, null, 2));
      return { approval: next, changed: true };
    } finally {
      await lock.release();
    }
  }

  return {
    async create(approval) {
      const created = await createFileExclusive(fileOf(approval.id), JSON.stringify(approval, null, 2));
      if (!created) throw new Error(`approval ${approval.id} already exists`);
    },

    get: read,

    async list(filter: ApprovalFilter = {}) {
      let names: string[];
      try {
        names = await readdir(dir);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
        throw err;
      }
      const found: Approval[] = [];
      for (const name of names) {
        if (!name.endsWith('.json')) continue;
        const approval = await read(name.slice(0, -'.json'.length));
        if (!approval) continue;
        if (filter.status && approval.status !== filter.status) continue;
        if (filter.runId && approval.runId !== filter.runId) continue;
        found.push(approval);
      }
      return found.sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id));
    },

    update: (id, change) => transition(id, async (current) => change(current)),
    transition,

    async claimOnce(key, ttlMs) {
      const now = clock.now();
      await pruneOnce(now);
      const file = join(onceDir, `${sha256Hex(key)}.json`);
      const entry = JSON.stringify({ until: now + ttlMs });
      if (await createFileExclusive(file, entry)) return true;
      // Remembered before: a replay, unless that memory has run out.
      const seen = await readFile(file, 'utf8')
        .then((s) => JSON.parse(s) as { until: number })
        .catch(() => ({ until: Infinity }));
      if (seen.until > clock.now()) return false;
      await unlink(file).catch(() => undefined);
      return createFileExclusive(file, entry);
    },

    async close() {},
  };
}
