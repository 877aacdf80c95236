// Runs persisted as one JSON file each under <home>/runs, written atomically
// (temp file, fsync, rename, directory fsync) so a crash leaves the old or the new state.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { mkdirPrivate, writeFileAtomic } from '../durable-file.js';
import { UserError } from '../errors.js';
import { RUN_SCHEMA_VERSION, type Run, type RunStatus } from './run.js';

/** The port the loop persists runs through (files here; Redis when configured). */
export interface RunStore {
  save(run: Run): Promise<void>;
  get(id: string): Promise<Run | undefined>;
  list(filter?: { status?: RunStatus }): Promise<Run[]>;
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
    throw new UserError(`${source}: run schema version ${String(run.schemaVersion)} is not supported (this build reads version ${RUN_SCHEMA_VERSION})`);
  }
  return run as Run;
}

export function createFileRunStore(dir: string): RunStore {
  let ready: Promise<unknown> | null = null;
  const ensureDir = () => (ready ??= mkdirPrivate(dir));
  return {
    async save(run) {
      await writeFileAtomic(join(dir, `${checkId(run.id)}.json`), JSON.stringify(run, null, 2));
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
  };
}
