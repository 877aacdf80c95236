// The local lab's model registry, on disk:
//   <dir>/<model>/model.json                      name, description, createdAt
//   <dir>/<model>/versions/<n>/version.json       lineage, metrics, gates (immutable)
//   <dir>/<model>/versions/<n>/model.json         the artifact (immutable)
//   <dir>/<model>/aliases.jsonl                   every alias move, appended, never rewritten
//   <dir>/<model>/.lock                           held while a version or alias is written
// A version directory is assembled under a temp name and renamed into place, so a crash
// leaves either a whole version or none; writers across processes serialise on the lock.
import { open, readdir, readFile, rename, rm, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import type {
  AliasMove,
  ModelRegistry,
  ModelSummary,
  ModelVersion,
  ParamValue,
  QualityGateResult,
} from '../../../tools/ports.js';
import type { Clock } from '../../clock.js';
import { UpstreamError, UserError } from '../../errors.js';
import {
  createFileExclusive,
  fsyncDir,
  mkdirPrivate,
  PRIVATE_FILE_MODE,
  readJsonIfExists,
  tempPathFor,
  writeFileAtomic,
} from '../../durable-file.js';
import { withFileLock } from '../../file-lock.js';
import { alreadyThere } from '../alias-moves.js';
import type { ModelArtifact } from './model-artifact.js';

export interface RegisterVersionInput {
  model: string;
  dataset: string;
  dataVersion: string;
  /** reportHash of the data-quality report on that data; null or absent when it was never checked. */
  dataQualityReport?: string | null;
  params: Record<string, ParamValue>;
  metrics: Record<string, number>;
  codeVersion: string | null;
  trainingJobId: string | null;
  createdBy: string;
  qualityGates: QualityGateResult[];
  artifact: ModelArtifact;
}

/**
 * Where the lab's trainer registers versions and its deployer, model server and data checks
 * read them: the lab's own registry, or another registry holding lab model files (MLflow,
 * through backends/mlflow/lab-models.ts).
 */
export interface LabModelStore {
  createModel(name: string, description: string): Promise<void>;
  registerVersion(input: RegisterVersionInput): Promise<ModelVersion>;
  listVersions(model: string): Promise<ModelVersion[]>;
  getVersion(model: string, version: string): Promise<ModelVersion | undefined>;
  setAlias(model: string, alias: string, version: string | null, by: string, reason: string): Promise<AliasMove>;
  loadArtifact(model: string, version: string): Promise<ModelArtifact>;
}

export interface LocalRegistry extends ModelRegistry {
  /** Creates the model if absent; an existing model keeps its description. */
  createModel(name: string, description: string): Promise<void>;
  /** Allocates the next version ("1", "2", ...); promotable when every gate passed. */
  registerVersion(input: RegisterVersionInput): Promise<ModelVersion>;
  loadArtifact(model: string, version: string): Promise<ModelArtifact>;
}

export const CHAMPION_ALIAS = 'champion';
const NAME = /^[a-z0-9][a-z0-9._-]{0,99}$/;
const ALIAS = /^[a-z][a-z0-9_-]{0,62}$/;

interface ModelRecord {
  schemaVersion: 1;
  name: string;
  description: string;
  createdAt: string;
}

// Versions written before data contracts lack dataQualityReport; they read back as null.
type StoredVersion = Omit<ModelVersion, 'aliases' | 'dataQualityReport'> & {
  schemaVersion: 1;
  dataQualityReport?: string | null;
};

function checkName(name: string): void {
  if (typeof name !== 'string' || !NAME.test(name)) {
    throw new UserError(
      `model name "${name}" is invalid: use lowercase letters, digits, ".", "_" or "-" (e.g. credit-risk)`,
    );
  }
}

function notFound(what: string): UserError {
  return new UserError(what, { code: 'not_found' });
}

function checkInput(input: RegisterVersionInput): void {
  checkName(input.model);
  for (const [key, value] of Object.entries(input.metrics)) {
    if (typeof value !== 'number' || !Number.isFinite(value))
      throw new UserError(`metric "${key}" must be a finite number, got ${JSON.stringify(value)}`);
  }
  for (const [key, value] of Object.entries(input.params)) {
    if (!['number', 'string', 'boolean'].includes(typeof value))
      throw new UserError(`param "${key}" must be a number, string or boolean`);
  }
  if (!/^[0-9a-f]{64}$/.test(input.dataVersion))
    throw new UserError(`dataVersion must be a sha256 hex digest, got "${input.dataVersion}"`);
  if (input.dataQualityReport != null && !/^[0-9a-f]{64}$/.test(input.dataQualityReport))
    throw new UserError(`dataQualityReport must be a sha256 hex digest or null, got "${input.dataQualityReport}"`);
  if (!input.createdBy) throw new UserError('createdBy must name who or what created the version');
  if (input.artifact?.kind !== 'logistic_regression')
    throw new UserError('artifact must be a logistic_regression model artifact');
}

export function createLocalRegistry(options: { dir: string; clock: Clock }): LocalRegistry {
  const { dir, clock } = options;
  const modelDir = (model: string) => join(dir, model);
  const versionsDir = (model: string) => join(dir, model, 'versions');
  const aliasFile = (model: string) => join(dir, model, 'aliases.jsonl');
  // Callers in this process queue here first, so they do not spin on the file lock.
  const queues = new Map<string, Promise<unknown>>();

  function locked<T>(model: string, fn: () => Promise<T>): Promise<T> {
    const previous = queues.get(model) ?? Promise.resolve();
    const next = previous.catch(() => undefined).then(() => withFileLock(join(modelDir(model), '.lock'), fn));
    queues.set(model, next);
    void next
      .finally(() => {
        if (queues.get(model) === next) queues.delete(model);
      })
      .catch(() => undefined);
    return next;
  }

  async function readModel(model: string): Promise<ModelRecord | undefined> {
    checkName(model);
    return readJsonIfExists<ModelRecord>(join(modelDir(model), 'model.json'));
  }

  async function requireModel(model: string): Promise<ModelRecord> {
    const record = await readModel(model);
    if (!record) throw notFound(`model "${model}" is not registered (create it or train it first)`);
    return record;
  }

  async function versionNumbers(model: string): Promise<number[]> {
    let entries: string[];
    try {
      entries = await readdir(versionsDir(model));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    // Temp directories (".name.pid.rand.tmp") of interrupted writes are not versions.
    return entries
      .filter((e) => /^[1-9][0-9]*$/.test(e))
      .map(Number)
      .sort((a, b) => a - b);
  }

  /** Alias moves in order. A torn last line (crash mid-append) is ignored. */
  async function readMoves(model: string): Promise<AliasMove[]> {
    let text: string;
    try {
      text = await readFile(aliasFile(model), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    // Everything after the last newline is a torn append; appendMove trims it later.
    const lines = text
      .slice(0, text.lastIndexOf('\n') + 1)
      .split('\n')
      .filter(Boolean);
    return lines.map((line, i) => {
      try {
        return JSON.parse(line) as AliasMove;
      } catch (err) {
        throw new UpstreamError(
          'lab registry',
          `alias history of "${model}" is corrupt at line ${i + 1} of ${aliasFile(model)}`,
          { retryable: false, cause: err },
        );
      }
    });
  }

  function currentAliases(moves: AliasMove[]): Record<string, string> {
    const aliases: Record<string, string> = {};
    for (const move of moves) {
      if (move.to === null) delete aliases[move.alias];
      else aliases[move.alias] = move.to;
    }
    return aliases;
  }

  function withAliases(stored: StoredVersion, aliases: Record<string, string>): ModelVersion {
    const { schemaVersion: _schema, ...version } = stored;
    // Versions registered before data contracts carry no report: their data was never checked.
    return {
      ...version,
      dataQualityReport: version.dataQualityReport ?? null,
      aliases: Object.keys(aliases)
        .filter((a) => aliases[a] === version.version)
        .sort(),
    };
  }

  async function readVersion(model: string, version: string): Promise<StoredVersion | undefined> {
    if (!/^[1-9][0-9]*$/.test(version)) return undefined;
    return readJsonIfExists<StoredVersion>(join(versionsDir(model), version, 'version.json'));
  }

  async function appendMove(model: string, move: AliasMove): Promise<void> {
    const file = aliasFile(model);
    // Repair a torn tail first, so the new line does not fuse with half of an old one.
    const text = await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) =>
      err.code === 'ENOENT' ? '' : Promise.reject(err),
    );
    if (text && !text.endsWith('\n'))
      await truncate(file, Buffer.byteLength(text.slice(0, text.lastIndexOf('\n') + 1)));
    const handle = await open(file, 'a', PRIVATE_FILE_MODE);
    try {
      await handle.write(`${JSON.stringify(move)}\n`);
      await handle.sync();
    } finally {
      await handle.close();
    }
  }

  return {
    async createModel(name, description) {
      checkName(name);
      const record: ModelRecord = {
        schemaVersion: 1,
        name,
        description,
        createdAt: new Date(clock.now()).toISOString(),
      };
      await mkdirPrivate(versionsDir(name));
      await createFileExclusive(join(modelDir(name), 'model.json'), `${JSON.stringify(record, null, 2)}\n`);
    },

    async registerVersion(input) {
      checkInput(input);
      await requireModel(input.model);
      const promotable = input.qualityGates.length > 0 && input.qualityGates.every((g) => g.passed);
      return locked(input.model, async () => {
        const numbers = await versionNumbers(input.model);
        const version = String((numbers[numbers.length - 1] ?? 0) + 1);
        const stored: StoredVersion = {
          schemaVersion: 1,
          model: input.model,
          version,
          createdAt: new Date(clock.now()).toISOString(),
          createdBy: input.createdBy,
          dataVersion: input.dataVersion,
          dataset: input.dataset,
          dataQualityReport: input.dataQualityReport ?? null,
          params: input.params,
          metrics: input.metrics,
          codeVersion: input.codeVersion,
          trainingJobId: input.trainingJobId,
          qualityGates: input.qualityGates,
          promotable,
        };
        const target = join(versionsDir(input.model), version);
        const staging = tempPathFor(target);
        try {
          await writeFileAtomic(join(staging, 'model.json'), JSON.stringify(input.artifact));
          await writeFileAtomic(join(staging, 'version.json'), `${JSON.stringify(stored, null, 2)}\n`);
          // Renaming onto an existing non-empty directory fails: a version is never overwritten.
          await rename(staging, target);
        } catch (err) {
          await rm(staging, { recursive: true, force: true });
          throw err;
        }
        await fsyncDir(versionsDir(input.model));
        return withAliases(stored, currentAliases(await readMoves(input.model)));
      });
    },

    async setAlias(model, alias, version, by, reason) {
      checkName(model);
      if (typeof alias !== 'string' || !ALIAS.test(alias))
        throw new UserError(`alias "${alias}" is invalid: use lowercase letters, digits, "_" or "-" (e.g. champion)`);
      if (!by) throw new UserError('setAlias needs `by`: who moves the alias');
      await requireModel(model);
      return locked(model, async () => {
        if (version !== null) {
          const target = await readVersion(model, version);
          if (!target) throw notFound(`model "${model}" has no version "${version}"`);
          if (alias === CHAMPION_ALIAS && !target.promotable) {
            const failed = target.qualityGates
              .filter((g) => !g.passed)
              .map((g) => `${g.gate} ${g.value} (${g.direction === 'min' ? '>=' : '<='} ${g.threshold})`);
            throw new UserError(
              `version ${version} of "${model}" is not promotable, so it cannot become ${CHAMPION_ALIAS}: failed gates ${failed.join(', ') || '(none evaluated)'}`,
            );
          }
        }
        const moves = await readMoves(model);
        const from = currentAliases(moves)[alias] ?? null;
        // Already there (a retried promotion): the move that put it there, nothing appended.
        if (from === version)
          return alreadyThere(moves, { model, alias, version, by, reason }, new Date(clock.now()).toISOString());
        const move: AliasMove = {
          model,
          alias,
          from,
          to: version,
          at: new Date(clock.now()).toISOString(),
          by,
          reason,
        };
        await appendMove(model, move);
        return move;
      });
    },

    async loadArtifact(model, version) {
      checkName(model);
      const artifact = /^[1-9][0-9]*$/.test(version)
        ? await readJsonIfExists<ModelArtifact>(join(versionsDir(model), version, 'model.json'))
        : undefined;
      if (!artifact) throw notFound(`model "${model}" has no version "${version}"`);
      return artifact;
    },

    async listModels() {
      let entries: string[];
      try {
        entries = await readdir(dir);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
        throw err;
      }
      const summaries: ModelSummary[] = [];
      for (const name of entries.filter((e) => NAME.test(e)).sort()) {
        const record = await readModel(name);
        if (!record) continue;
        const numbers = await versionNumbers(name);
        const last = numbers[numbers.length - 1];
        summaries.push({
          name,
          description: record.description,
          latestVersion: last === undefined ? null : String(last),
          aliases: currentAliases(await readMoves(name)),
          versionCount: numbers.length,
        });
      }
      return summaries;
    },

    async listVersions(model) {
      await requireModel(model);
      const aliases = currentAliases(await readMoves(model));
      const versions: ModelVersion[] = [];
      for (const n of await versionNumbers(model)) {
        const stored = await readVersion(model, String(n));
        if (stored) versions.push(withAliases(stored, aliases));
      }
      return versions;
    },

    async getVersion(model, version) {
      if (!(await readModel(model))) return undefined;
      const stored = await readVersion(model, version);
      return stored && withAliases(stored, currentAliases(await readMoves(model)));
    },

    async resolveAlias(model, alias) {
      if (!(await readModel(model))) return undefined;
      const aliases = currentAliases(await readMoves(model));
      const version = aliases[alias];
      const stored = version === undefined ? undefined : await readVersion(model, version);
      return stored && withAliases(stored, aliases);
    },

    async aliasHistory(model) {
      await requireModel(model);
      return readMoves(model);
    },
  };
}
