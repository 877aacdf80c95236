// Which calls with side effects were taken for execution, by idempotency key, and how they
// ended. A run whose worker died mid-call is resumed by another worker, which proposes the
// unfinished call again under the same key: the gate finds it here and answers with what
// happened instead of executing it a second time. It must outlive the worker, so `serve`
// and `worker` keep it in Redis (shared by all workers) or in files under <home>.
import { join } from 'node:path';
import { readFile } from 'node:fs/promises';
import type { Risk } from '../../tools/index.js';
import { canonicalJson, sha256Hex } from '../audit/index.js';
import { createFileExclusive, writeFileAtomic } from '../durable-file.js';
import type { Decision, PolicyPrincipal } from '../policy/types.js';

/**
 * The hash that binds a call to its exact arguments (canonical JSON, SHA-256): an execution
 * record and an approval both keep it, and the two must agree.
 */
export function argsHashOf(args: unknown): string {
  return sha256Hex(canonicalJson(args ?? null));
}

/** How a call ended, as kept for whoever comes back for it (`started`: a long-running call goes on, its wait in `output`). */
export interface CallEnd {
  status: 'executed' | 'refused' | 'invalid' | 'failed' | 'started';
  summary: string;
  output?: unknown;
  /** Kept just before its audit entry is written: an attempt that stopped here may or may not have written it. */
  recording?: true;
}

/** What a `started` end says the call waits on, or null when it does not say (or did not start). */
export function startedWait(end: CallEnd): { handle: unknown; startedAt: string; deadline: string } | null {
  if (end.status !== 'started') return null;
  const started = (end.output ?? {}) as { handle?: unknown; startedAt?: unknown; deadline?: unknown };
  if (typeof started.startedAt !== 'string' || typeof started.deadline !== 'string') return null;
  return { handle: started.handle ?? null, startedAt: started.startedAt, deadline: started.deadline };
}

export interface ExecutionRecord {
  key: string;
  runId: string | null;
  callId: string;
  principal: PolicyPrincipal;
  tool: string;
  /** sha256 of the canonical arguments: a key reused for another call is refused. */
  argsHash: string;
  decision: Decision;
  risk: Risk;
  /** The approval the call runs under, if any. */
  approvalId: string | null;
  takenAt: string;
  /** Null until the call ends: a record left null is a call whose worker died during it. */
  end: CallEnd | null;
}

export interface Executions {
  /** The record under `key`, if a call was taken for execution under it. */
  find(key: string): Promise<ExecutionRecord | undefined>;
  /** Takes `record.key` for execution, atomically: null for the first taker, else the earlier record. */
  take(record: ExecutionRecord): Promise<ExecutionRecord | null>;
  /** Keeps how the call ended. */
  finish(key: string, end: CallEnd): Promise<void>;
  close(): Promise<void>;
}

/** Kept in memory: for tests and for commands whose runs cannot outlive the process. */
export function createMemoryExecutions(): Executions {
  const records = new Map<string, ExecutionRecord>();
  return {
    find: async (key) => structuredClone(records.get(key)),
    async take(record) {
      const earlier = records.get(record.key);
      if (earlier) return structuredClone(earlier);
      records.set(record.key, structuredClone(record));
      return null;
    },
    async finish(key, end) {
      const record = records.get(key);
      if (record) record.end = structuredClone(end);
    },
    async close() {},
  };
}

/** One fsync'd file per key under `dir`; taking is an exclusive create, so two processes cannot both win. */
export function createFileExecutions(dir: string): Executions {
  const fileOf = (key: string) => join(dir, `${sha256Hex(key)}.json`);
  const read = async (key: string): Promise<ExecutionRecord | undefined> => {
    try {
      return JSON.parse(await readFile(fileOf(key), 'utf8')) as ExecutionRecord;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new Error(
        `the execution record for ${key} in ${dir} cannot be read (${(err as Error).message}); move the file aside only if you know how that call ended`,
        { cause: err },
      );
    }
  };
  return {
    find: read,
    async take(record) {
      if (await createFileExclusive(fileOf(record.key), JSON.stringify(record))) return null;
      return (await read(record.key)) ?? null;
    },
    async finish(key, end) {
      const record = await read(key);
      // Only the taker finishes a call, so there is no writer to race.
      if (record) await writeFileAtomic(fileOf(key), JSON.stringify({ ...record, end }));
    },
    async close() {},
  };
}
