// The model registry port over an MLflow tracking server (REST API 2.0). A version's
// lineage is the run behind it: params, metrics, dataset inputs with their digests, the
// `mlflow.source.git.commit` tag. Quality gates are read from the run's metrics under the
// configured names. Aliases (`champion`, `challenger`) replace the deprecated stages; each
// move the agent makes is also kept as a tag on the registered model, MLflow keeping no
// history of aliases, so every process reads the same history.
import { randomBytes } from 'node:crypto';
import { NotFoundError, UserError, isNotFound } from '../../errors.js';
import type {
  AliasMove,
  ModelRegistry,
  ModelSummary,
  ModelVersion,
  ParamValue,
  QualityGateResult,
} from '../../../tools/ports.js';
import type { ModelArtifact } from '../local/model-artifact.js';
import type { RegisterVersionInput } from '../local/registry.js';
import { alreadyThere } from '../alias-moves.js';
import type { MlflowQualityGate } from '../settings.js';
import { MlflowRefusal, type MlflowClient } from './client.js';

interface Tag {
  key: string;
  value: string;
}
export interface MlflowRegisteredModel {
  name: string;
  description?: string;
  creation_timestamp?: number;
  tags?: Tag[];
  aliases?: { alias: string; version: string }[];
}
export interface MlflowModelVersion {
  name: string;
  version: string;
  creation_timestamp: number;
  user_id?: string;
  source?: string;
  run_id?: string;
  status?: string;
  tags?: Tag[];
  aliases?: string[];
}
export interface MlflowRun {
  info: { run_id: string; experiment_id: string; artifact_uri?: string; user_id?: string };
  data: { metrics?: { key: string; value: number }[]; params?: Tag[]; tags?: Tag[] };
  inputs?: {
    dataset_inputs?: {
      tags?: Tag[];
      dataset: { name: string; digest: string; source_type?: string; source?: string };
    }[];
  };
}

/** Where a version came from, beyond what the port names: the MLflow run and its datasets. */
export interface MlflowLineage {
  runId: string | null;
  /** The version's `source`: where its model files are (`runs:/…`, `s3://…`, a lab model file's `file://…`). */
  source: string | null;
  datasets: { name: string; digest: string; source: string | null; context: string | null }[];
}
export type MlflowVersionView = ModelVersion & { lineage: MlflowLineage };

export const TAGS = {
  jobId: 'mlops_agent.job_id',
  dataQualityReport: 'mlops_agent.data_quality_report',
  dataset: 'mlops_agent.dataset',
  aliasMove: 'mlops_agent.alias_move.',
  gitCommit: 'mlflow.source.git.commit',
  user: 'mlflow.user',
  datasetContext: 'mlflow.data.context',
} as const;

export interface MlflowRegistry extends ModelRegistry {
  /** The version with its lineage (run, source, datasets). */
  getVersion(model: string, version: string): Promise<MlflowVersionView | undefined>;
  createModel(name: string, description: string): Promise<void>;
  /**
   * Logs a run (params, metrics, the training dataset with its digest, the model artifact) and
   * registers a version from it. The input's gates are not kept: MLflow's are read from the
   * run's metrics. With `source` (a model kept elsewhere, e.g. on S3), nothing is uploaded and
   * the version's source is that URI; with `keepModel`, the caller keeps the model file in the
   * run's artifact directory (MLflow accepts a local source only there) and names the source.
   * `experimentId` overrides the registry's experiment for this run.
   */
  registerVersion(
    input: RegisterVersionInput,
    options?: { source?: string; keepModel?: (artifactUri: string) => Promise<string>; experimentId?: string },
  ): Promise<MlflowVersionView>;
  /** The id of the experiment named `name`, created with `artifactLocation` when missing; refused when it exists elsewhere. */
  ensureExperiment(name: string, artifactLocation: string): Promise<string>;
  setVersionTag(model: string, version: string, key: string, value: string): Promise<void>;
  loadArtifact(model: string, version: string): Promise<ModelArtifact>;
  /** The newest version registered from `runId`, if any (a training job reports its run). */
  versionOfRun(model: string, runId: string): Promise<string | undefined>;
}

export interface MlflowRegistryOptions {
  client: MlflowClient;
  qualityGates: MlflowQualityGate[];
  /** Run tag holding the training data's content hash; else the training dataset's digest. */
  dataVersionTag: string;
  /** Experiment that runs registered through the agent are logged to (default "0", MLflow's Default). */
  experimentId?: string;
  now?: () => number;
}

/** The alias moves kept in the model's tags, oldest first. */
function movesOf(m: MlflowRegisteredModel): AliasMove[] {
  return (m.tags ?? [])
    .filter((t) => t.key.startsWith(TAGS.aliasMove))
    .sort((a, b) => a.key.localeCompare(b.key))
    .map((t) => JSON.parse(t.value) as AliasMove);
}

const tagsOf = (tags: Tag[] | undefined) => new Map((tags ?? []).map((t) => [t.key, t.value]));

/** MLflow keeps params as strings; numbers and booleans come back as what they were. */
function paramValue(text: string): ParamValue {
  if (text === 'true' || text === 'false') return text === 'true';
  const n = Number(text);
  return text.trim() !== '' && Number.isFinite(n) ? n : text;
}

/** A value for MLflow's search filter: single-quoted, which a name may not contain. */
function quoted(value: string, what: string): string {
  if (value.includes("'"))
    throw new UserError(`${what} "${value}" contains a single quote, which MLflow's search filter cannot hold`);
  return `'${value}'`;
}

export function createMlflowRegistry(options: MlflowRegistryOptions): MlflowRegistry {
  const { client } = options;
  const now = options.now ?? Date.now;
  const experimentId = options.experimentId ?? '0';
  let moveSeq = 0;

  function gatesFor(model: string, metrics: Record<string, number>): QualityGateResult[] {
    return options.qualityGates
      .filter((g) => g.model === undefined || g.model === model)
      .map((g) => {
        const value = metrics[g.metric];
        // A gate whose metric the run never logged cannot pass: its value is shown as null.
        if (value === undefined)
          return { gate: g.gate, value: Number.NaN, threshold: g.threshold, direction: g.direction, passed: false };
        return {
          gate: g.gate,
          value,
          threshold: g.threshold,
          direction: g.direction,
          passed: g.direction === 'min' ? value >= g.threshold : value <= g.threshold,
        };
      });
  }

  async function getModel(name: string): Promise<MlflowRegisteredModel> {
    const res = await client.get<{ registered_model: MlflowRegisteredModel }>('registered-models/get', { name });
    return res.registered_model;
  }

  async function getRun(runId: string): Promise<MlflowRun> {
    return (await client.get<{ run: MlflowRun }>('runs/get', { run_id: runId })).run;
  }

  async function view(v: MlflowModelVersion): Promise<MlflowVersionView> {
    const run = v.run_id ? await getRun(v.run_id) : null;
    const runTags = tagsOf(run?.data.tags);
    const versionTags = tagsOf(v.tags);
    const metrics = Object.fromEntries((run?.data.metrics ?? []).map((m) => [m.key, m.value]));
    const params = Object.fromEntries((run?.data.params ?? []).map((p) => [p.key, paramValue(p.value)]));
    const datasets = (run?.inputs?.dataset_inputs ?? []).map((d) => ({
      name: d.dataset.name,
      digest: d.dataset.digest,
      source: d.dataset.source ?? null,
      context: tagsOf(d.tags).get(TAGS.datasetContext) ?? null,
    }));
    const training = datasets.find((d) => d.context === 'training') ?? datasets[0];
    const qualityGates = gatesFor(v.name, metrics);
    return {
      model: v.name,
      version: String(v.version),
      createdAt: new Date(Number(v.creation_timestamp)).toISOString(),
      createdBy: runTags.get(TAGS.user) || v.user_id || run?.info.user_id || 'unknown',
      dataVersion: runTags.get(options.dataVersionTag) ?? training?.digest ?? '',
      dataset: runTags.get(TAGS.dataset) ?? training?.name ?? '',
      dataQualityReport: versionTags.get(TAGS.dataQualityReport) ?? runTags.get(TAGS.dataQualityReport) ?? null,
      params,
      metrics,
      codeVersion: runTags.get(TAGS.gitCommit) ?? null,
      trainingJobId: versionTags.get(TAGS.jobId) ?? runTags.get(TAGS.jobId) ?? null,
      qualityGates,
      promotable: qualityGates.every((g) => g.passed),
      aliases: [...(v.aliases ?? [])].sort(),
      lineage: { runId: v.run_id || null, source: v.source || null, datasets },
    };
  }

  async function searchVersions(filter: string): Promise<MlflowModelVersion[]> {
    const found = await client.searchAll<MlflowModelVersion>('model-versions/search', 'model_versions', { filter });
    return found.sort((a, b) => Number(a.version) - Number(b.version));
  }

  async function getVersion(model: string, version: string): Promise<MlflowVersionView | undefined> {
    try {
      const res = await client.get<{ model_version: MlflowModelVersion }>('model-versions/get', {
        name: model,
        version,
      });
      return await view(res.model_version);
    } catch (err) {
      if (isNotFound(err)) return undefined;
      // MLflow answers a version that is not a number with INVALID_PARAMETER_VALUE: no such version either.
      if (err instanceof MlflowRefusal && err.errorCode === 'INVALID_PARAMETER_VALUE' && !/^\d+$/.test(version))
        return undefined;
      throw err;
    }
  }

  async function artifactBase(model: string, version: string): Promise<string> {
    const v = await getVersion(model, version);
    if (!v) throw new NotFoundError(`MLflow: model "${model}" has no version ${version}`);
    const run = v.lineage.runId ? await getRun(v.lineage.runId) : null;
    const uri = run?.info.artifact_uri ?? '';
    const proxied = /^mlflow-artifacts:\/(.*)$/.exec(uri);
    if (!proxied) {
      throw new UserError(
        `version ${version} of "${model}" keeps its artifacts at "${uri || '(no run)'}", which the agent cannot read: run the tracking server with --serve-artifacts (mlflow-artifacts:/ URIs)`,
      );
    }
    return proxied[1]!.replace(/^\/+/, '');
  }

  return {
    async listModels(): Promise<ModelSummary[]> {
      const models = await client.searchAll<MlflowRegisteredModel>('registered-models/search', 'registered_models', {});
      return Promise.all(
        models.map(async (m) => {
          const versions = await searchVersions(`name=${quoted(m.name, 'model name')}`);
          return {
            name: m.name,
            description: m.description ?? '',
            latestVersion: versions.length > 0 ? String(versions[versions.length - 1]!.version) : null,
            aliases: Object.fromEntries((m.aliases ?? []).map((a) => [a.alias, String(a.version)])),
            versionCount: versions.length,
          };
        }),
      );
    },
    async listVersions(model) {
      await getModel(model);
      return Promise.all((await searchVersions(`name=${quoted(model, 'model name')}`)).map(view));
    },
    getVersion,
    async resolveAlias(model, alias) {
      try {
        const res = await client.get<{ model_version: MlflowModelVersion }>('registered-models/alias', {
          name: model,
          alias,
        });
        return await view(res.model_version);
      } catch (err) {
        if (isNotFound(err)) return undefined;
        throw err;
      }
    },
    async aliasHistory(model) {
      return movesOf(await getModel(model));
    },
    async createModel(name, description) {
      try {
        await client.post('registered-models/create', { name, description });
      } catch (err) {
        // Created before (by us or the team): the first description stays.
        if (!(err instanceof MlflowRefusal && err.errorCode === 'RESOURCE_ALREADY_EXISTS')) throw err;
      }
    },
    async registerVersion(input, registerOptions = {}) {
      await getModel(input.model);
      const at = now();
      const { run } = await client.post<{ run: MlflowRun }>('runs/create', {
        experiment_id: registerOptions.experimentId ?? experimentId,
        start_time: at,
        tags: [
          { key: TAGS.user, value: input.createdBy },
          ...(input.trainingJobId ? [{ key: TAGS.jobId, value: input.trainingJobId }] : []),
        ],
      });
      const runId = run.info.run_id;
      await client.post('runs/log-batch', {
        run_id: runId,
        params: Object.entries(input.params).map(([key, value]) => ({ key, value: String(value) })),
        metrics: Object.entries(input.metrics).map(([key, value]) => ({ key, value, timestamp: at, step: 0 })),
        tags: [
          { key: options.dataVersionTag, value: input.dataVersion },
          { key: TAGS.dataset, value: input.dataset },
          ...(input.codeVersion ? [{ key: TAGS.gitCommit, value: input.codeVersion }] : []),
          ...(input.dataQualityReport ? [{ key: TAGS.dataQualityReport, value: input.dataQualityReport }] : []),
        ],
      });
      await client.post('runs/log-inputs', {
        run_id: runId,
        datasets: [
          {
            tags: [{ key: TAGS.datasetContext, value: 'training' }],
            dataset: {
              name: input.dataset,
              digest: input.dataVersion,
              source_type: 'local',
              source: JSON.stringify({ dataset: input.dataset }),
            },
          },
        ],
      });
      const uri = run.info.artifact_uri ?? '';
      const keptElsewhere = registerOptions.source ?? (await registerOptions.keepModel?.(uri));
      const proxied = keptElsewhere ? null : /^mlflow-artifacts:\/(.*)$/.exec(uri);
      if (proxied) {
        const res = await fetch(client.artifactUrl(`${proxied[1]!.replace(/^\/+/, '')}/model/model.json`), {
          method: 'PUT',
          headers: { ...client.headers(), 'content-type': 'application/json' },
          body: JSON.stringify(input.artifact),
        });
        if (!res.ok)
          throw new UserError(
            `MLflow refused the model artifact of run ${runId} (HTTP ${res.status}): ${await res.text()}`,
          );
      }
      const created = await client.post<{ model_version: MlflowModelVersion }>('model-versions/create', {
        name: input.model,
        source: keptElsewhere ?? `runs:/${runId}/model`,
        run_id: runId,
        tags: input.trainingJobId ? [{ key: TAGS.jobId, value: input.trainingJobId }] : [],
      });
      return view(created.model_version);
    },
    async setAlias(model, alias, version, by, reason) {
      const m = await getModel(model);
      const found = m.aliases?.find((a) => a.alias === alias)?.version;
      const from = found === undefined ? null : String(found);
      // Already there (a retried promotion): the move that put it there, nothing set or tagged again.
      if (from === version)
        return alreadyThere(movesOf(m), { model, alias, version, by, reason }, new Date(now()).toISOString());
      if (version !== null) {
        const target = await getVersion(model, version);
        if (!target) throw new NotFoundError(`MLflow: model "${model}" has no version ${version}`);
        if (alias === 'champion' && !target.promotable) {
          const failed = target.qualityGates
            .filter((g) => !g.passed)
            .map(
              (g) =>
                `${g.gate} ${Number.isNaN(g.value) ? '(not logged)' : g.value} ${g.direction === 'min' ? '<' : '>'} ${g.threshold}`,
            );
          throw new UserError(
            `version ${version} of "${model}" is not promotable: it failed quality gates ${failed.join(', ')}`,
          );
        }
        await client.post('registered-models/alias', { name: model, alias, version });
      } else if (from !== null) {
        await client.delete('registered-models/alias', { name: model, alias });
      }
      const at = now();
      const move: AliasMove = {
        model,
        alias,
        from,
        to: version,
        at: new Date(at).toISOString(),
        by,
        reason,
      };
      const key = `${TAGS.aliasMove}${String(at).padStart(15, '0')}.${String(moveSeq++).padStart(6, '0')}.${randomBytes(3).toString('hex')}`;
      await client.post('registered-models/set-tag', { name: model, key, value: JSON.stringify(move) });
      return move;
    },
    async ensureExperiment(name, artifactLocation) {
      const byName = () =>
        client.get<{ experiment: { experiment_id: string; artifact_location?: string } }>('experiments/get-by-name', {
          experiment_name: name,
        });
      let found: { experiment_id: string; artifact_location?: string } | undefined;
      try {
        found = (await byName()).experiment;
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
      if (!found) {
        try {
          const created = await client.post<{ experiment_id: string }>('experiments/create', {
            name,
            artifact_location: artifactLocation,
          });
          return String(created.experiment_id);
        } catch (err) {
          // Another process created it first.
          if (!(err instanceof MlflowRefusal && err.errorCode === 'RESOURCE_ALREADY_EXISTS')) throw err;
          found = (await byName()).experiment;
        }
      }
      if (found.artifact_location !== artifactLocation)
        throw new UserError(
          `MLflow experiment "${name}" keeps its artifacts at ${found.artifact_location ?? '(unknown)'}, not ${artifactLocation}: rename or delete that experiment`,
        );
      return String(found.experiment_id);
    },
    async setVersionTag(model, version, key, value) {
      await client.post('model-versions/set-tag', { name: model, version, key, value });
    },
    async loadArtifact(model, version) {
      const path = `${await artifactBase(model, version)}/model/model.json`;
      const res = await fetch(client.artifactUrl(path), { headers: client.headers() });
      if (res.status === 404)
        throw new NotFoundError(
          `MLflow: version ${version} of "${model}" has no model/model.json artifact (the agent's model format)`,
        );
      if (!res.ok) throw new UserError(`MLflow refused the artifact ${path} (HTTP ${res.status}): ${await res.text()}`);
      return (await res.json()) as ModelArtifact;
    },
    async versionOfRun(model, runId) {
      const found = await searchVersions(`name=${quoted(model, 'model name')} and run_id=${quoted(runId, 'run id')}`);
      return found.length > 0 ? String(found[found.length - 1]!.version) : undefined;
    },
  };
}
