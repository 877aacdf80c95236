// MLflow as the registry of the lab's trainer and deployer. The lab trains and serves its own
// model format, so each version it trains is written as a lab model file under
// <lab>/model-files and registered in MLflow (a run with the version's params and metrics,
// a model version whose `source` is that file's file:// URI). The lab's deployer and model
// server load a version from its source when it is such a file, and refuse any other
// (a team's s3://, runs:/ or models:/ version is for KServe to serve).
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { isAbsolute, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { UserError } from '../../errors.js';
import { writeFileAtomic } from '../../durable-file.js';
import type { ModelArtifact } from '../local/model-artifact.js';
import type { LabModelStore } from '../local/registry.js';
import type { MlflowRegistry } from './registry.js';

/** Where lab model files live under the lab's root. */
export const LAB_MODEL_FILES = 'model-files';

const SAFE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** The MLflow registry as the lab's model store: versions registered in MLflow, model files kept by the lab. */
export function mlflowLabModels(mlflow: MlflowRegistry, labRoot: string): LabModelStore {
  const dir = join(labRoot, LAB_MODEL_FILES);

  /** The lab model file a source names, or undefined when the source is anything else. */
  function labFileOf(source: string | null): string | undefined {
    if (!source?.startsWith('file://')) return undefined;
    let path: string;
    try {
      path = fileURLToPath(source);
    } catch {
      return undefined;
    }
    const inside = relative(dir, path);
    return inside && !inside.startsWith('..') && !isAbsolute(inside) ? path : undefined;
  }

  return {
    createModel: (name, description) => mlflow.createModel(name, description),
    listVersions: (model) => mlflow.listVersions(model),
    getVersion: (model, version) => mlflow.getVersion(model, version),
    setAlias: (model, alias, version, by, reason) => mlflow.setAlias(model, alias, version, by, reason),

    async registerVersion(input) {
      for (const [what, value] of [
        ['model name', input.model],
        ['training job id', input.trainingJobId],
      ] as const) {
        if (value !== null && !SAFE.test(value))
          throw new UserError(`${what} "${value}" cannot name a lab model file: use letters, digits, ".", "_" or "-"`);
      }
      // One file per training job: a job taken over after a crash writes the same file again.
      const file = join(
        dir,
        input.model,
        `${input.trainingJobId ?? `untracked-${randomBytes(6).toString('hex')}`}.json`,
      );
      await writeFileAtomic(file, JSON.stringify(input.artifact));
      return mlflow.registerVersion(input, { source: pathToFileURL(file).href });
    },

    async loadArtifact(model, version): Promise<ModelArtifact> {
      const found = await mlflow.getVersion(model, version);
      if (!found) throw new UserError(`MLflow: model "${model}" has no version ${version}`, { code: 'not_found' });
      const file = labFileOf(found.lineage.source);
      if (!file)
        throw new UserError(
          `the lab's deployer serves only versions whose source is a lab model file (file:// under ${dir}); version ${version} of "${model}" has source ${found.lineage.source ?? '(none)'}: use deployer kserve to serve it`,
        );
      let artifact: ModelArtifact;
      try {
        artifact = JSON.parse(await readFile(file, 'utf8')) as ModelArtifact;
      } catch (err) {
        throw new UserError(
          `version ${version} of "${model}" names the lab model file ${file}, which cannot be read (${(err as Error).message}); was it trained on another machine's lab?`,
          { code: 'not_found' },
        );
      }
      if (artifact?.kind !== 'logistic_regression')
        throw new UserError(`${file} (version ${version} of "${model}") is not a lab model file`);
      return artifact;
    },
  };
}
