// MLflow as the registry of the lab's trainer and deployer. The lab trains and serves its own
// model format, so each version it trains is registered in MLflow as a run (params, metrics)
// in an experiment whose artifact location is <lab>/model-files, with the lab model file
// written in that run's artifact directory and the model version's `source` that file's
// file:// URI (MLflow accepts a local source only inside the run's artifact directory). The lab's deployer and model
// server load a version from its source when it is such a file, and refuse any other
// (a team's s3://, runs:/ or models:/ version is for KServe to serve).
import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { UserError } from '../../errors.js';
import { writeFileAtomic } from '../../durable-file.js';
import type { ModelArtifact } from '../local/model-artifact.js';
import type { LabModelStore } from '../local/registry.js';
import type { MlflowRegistry } from './registry.js';

/** Where lab model files live under the lab's root. */
export const LAB_MODEL_FILES = 'model-files';

/** The MLflow registry as the lab's model store: versions registered in MLflow, model files kept by the lab. */
export function mlflowLabModels(mlflow: MlflowRegistry, labRoot: string): LabModelStore {
  const dir = resolve(labRoot, LAB_MODEL_FILES);
  // One experiment per lab (machine and directory): its artifact location is the lab's model files.
  const experimentName = `mlops-agent lab ${hostname()}:${resolve(labRoot)}`;
  let experiment: Promise<string> | undefined;

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
      // The model file goes in the run's artifact directory, inside the lab: MLflow accepts a
      // local source only there, so the runs go to an experiment whose artifacts are the lab's.
      experiment ??= mlflow.ensureExperiment(experimentName, pathToFileURL(dir).href).catch((err: unknown) => {
        experiment = undefined;
        throw err;
      });
      return mlflow.registerVersion(input, {
        experimentId: await experiment,
        keepModel: async (artifactUri) => {
          const runDir = labFileOf(artifactUri);
          if (!runDir)
            throw new UserError(
              `MLflow put the run's artifacts at ${artifactUri}, outside the lab's model files (${dir}): check the artifact location of the MLflow experiment "${experimentName}"`,
            );
          const file = join(runDir, 'model', 'model.json');
          await writeFileAtomic(file, JSON.stringify(input.artifact));
          return pathToFileURL(file).href;
        },
      });
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
