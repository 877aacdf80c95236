// Runs persisted as one JSON file each under <home>/runs, written atomically
// (temp file, fsync, rename, directory fsync) so a crash leaves the old or the new state.
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { mkdirPrivate, writeFileAtomic } from '../durable-file.js';
import { UserError } from '../errors.js';
import { RUN_SCHEMA_VERSION, type Run, type RunStatus } from './run.js';
import { appendIndexLines, hasRunIndex, indexLinesNewestFirst, rebuildRunIndex } from './run-index.js';

/** A page of runs, newest first: at most `limit`, created at or after `since` (ISO), with `status`. */
export interface RecentRunsQuery {
  limit: number;
  since?: string;
  status?: RunStatus;
}

/** The port the loop persists runs through (files here; Redis when configured). */
export interface RunStore {
  save(run: Run): Promise<void>;
  get(id: string): Promise<Run | undefined>;
  /** Every run (with `status`), oldest first. Reads them all: for sweepers, not for people. */
  list(filter?: { status?: RunStatus }): Promise<Run[]>;
  /** The newest runs first, costing what it returns (an index, not a scan). */
  recent(query: RecentRunsQuery): Promise<Run[]>;
}

/** Newest first, by creation time, then id (a stable order for runs created in the same millisecond). */
export function newestFirst(a: Run, b: Run): number {
  return b.createdAt.localeCompare(a.createdAt) || b.id.localeCompare(a.id);
}

const RUN_ID = /^[A-Za-z0-9_-]{1,80}$/;

function checkId(id: string): string {
  if (!RUN_ID.test(id)) throw new UserError(`run id "${id}" is invalid: letters, digits, "_" and "-" only`);
  return id;
}

/** Loads a stored run, upgrading older schema versions. */
export function upgradeRun(raw: unknown, source: string): Run {
  const run = raw as Partial<Run> & { schemaVersion?: number };
  if (run.schemaVersion !== RUN_SCHEMA_VERSION) {
    throw new UserError(
      `${source}: run schema version ${String(run.schemaVersion)} is not supported (this build reads version ${RUN_SCHEMA_VERSION})`,
    );
  }
  return run as Run;
}

export function createFileRunStore(dir: string): RunStore {
  let ready: Promise<unknown> | null = null;
  const ensureDir = () => (ready ??= mkdirPrivate(dir));
  // A store from before the index gets one, built once from its run files.
  let indexed: Promise<unknown> | null = null;
  const ensureIndex = () =>
    (indexed ??= ensureDir().then(async () => (await hasRunIndex(dir)) || rebuildRunIndex(dir)));
  /** The status this process last indexed for each run: a save that keeps it appends nothing. */
  const indexedStatus = new Map<string, RunStatus>();
  return {
    async save(run) {
      const file = join(dir, `${checkId(run.id)}.json`);
      await ensureIndex();
      // A new run's line goes first: a crash then leaves a line without a file (skipped
      // by readers), never a stored run that no listing shows.
      if (!indexedStatus.has(run.id) && !(await exists(file))) {
        await appendIndexLines(dir, [{ createdAt: run.createdAt, id: run.id, status: run.status, first: true }]);
        indexedStatus.set(run.id, run.status);
      }
      await writeFileAtomic(file, JSON.stringify(run, null, 2));
      if (indexedStatus.get(run.id) === run.status) return;
      await appendIndexLines(dir, [{ createdAt: run.createdAt, id: run.id, status: run.status, first: false }]);
      indexedStatus.set(run.id, run.status);
    },
    async get(id) {
      const file = join(dir, `${checkId(id)}.json`);
      try {
        return upgradeRun(JSON.parse(await readFile(file, 'utf8')), file);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw err;
      }
    },
    async list(filter = {}) {
      await ensureDir();
      const names = (await readdir(dir)).filter((n) => n.endsWith('.json'));
      const runs: Run[] = [];
      for (const name of names) {
        const run = await this.get(name.slice(0, -'.json'.length));
        if (run && (!filter.status || run.status === filter.status)) runs.push(run);
      }
      return runs.sort((a, b) => a.createdAt.localeCompare(b.createdAt));
    },
    async recent({ limit, since, status }) {
      await ensureIndex();
      // Read backwards, the first line seen of a run is its latest status; its `new` line
      // places it among the others (runs are first saved as they are created).
      const latest = new Map<string, RunStatus>();
      const ids: string[] = [];
      const placed = new Set<string>();
      for await (const line of indexLinesNewestFirst(dir)) {
        if (!latest.has(line.id)) latest.set(line.id, line.status);
        if (!line.first || placed.has(line.id)) continue;
        if (since !== undefined && line.createdAt < since) break;
        placed.add(line.id);
        if (status && latest.get(line.id) !== status) continue;
        ids.push(line.id);
        if (ids.length >= limit) break;
      }
      const runs: Run[] = [];
      for (const id of ids) {
        const run = await this.get(id);
        // The run file is the truth: a line may trail a save that a crash cut short.
        if (run && (!status || run.status === status)) runs.push(run);
      }
      return runs.sort(newestFirst);
    },
  };
}

async function exists(file: string): Promise<boolean> {
  try {
    await stat(file);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}
