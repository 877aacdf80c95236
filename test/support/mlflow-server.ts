// An MLflow tracking server for tests: the subset of REST API 2.0 the MLflow registry
// adapter uses, with the request and response shapes of MLflow's REST API documentation
// (registered models, model versions, aliases, tags, experiments, runs, dataset inputs, the
// artifact proxy), errors as {error_code, message}, and search pages with next_page_token.
// As MLflow's server does since 2.2.1, a model version whose source is a local path is
// refused unless it lies within the artifact directory of the run named by run_id.
// MLflow itself cannot be installed here; this server is what the adapter is tested against.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

interface Tag {
  key: string;
  value: string;
}
interface Model {
  name: string;
  description: string;
  creation_timestamp: number;
  last_updated_timestamp: number;
  tags: Tag[];
  aliases: Map<string, string>;
}
interface Version {
  name: string;
  version: string;
  creation_timestamp: number;
  last_updated_timestamp: number;
  user_id: string;
  current_stage: string;
  source: string;
  run_id: string;
  status: string;
  tags: Tag[];
}
interface Run {
  info: {
    run_id: string;
    run_uuid: string;
    experiment_id: string;
    user_id: string;
    status: string;
    start_time: number;
    artifact_uri: string;
    lifecycle_stage: string;
  };
  data: { metrics: { key: string; value: number; timestamp: number; step: number }[]; params: Tag[]; tags: Tag[] };
  inputs: {
    dataset_inputs: { tags: Tag[]; dataset: { name: string; digest: string; source_type: string; source: string } }[];
  };
}

interface Experiment {
  experiment_id: string;
  name: string;
  artifact_location: string;
  lifecycle_stage: string;
}

export interface FakeMlflow {
  url: string;
  /** Every request as `METHOD path`, for tests that count calls (pagination). */
  requests: string[];
  models: Map<string, Model>;
  versions: Map<string, Version[]>;
  runs: Map<string, Run>;
  experiments: Map<string, Experiment>;
  close(): Promise<void>;
}

class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const setTag = (tags: Tag[], key: string, value: string) => {
  const found = tags.find((t) => t.key === key);
  if (found) found.value = value;
  else tags.push({ key, value });
};

/** MLflow's filter strings as the adapter writes them: `key='value'` joined by `and`. */
function matches(filter: string, v: Version): boolean {
  if (!filter) return true;
  return filter.split(/\s+and\s+/i).every((clause) => {
    const m = /^\s*(name|run_id)\s*=\s*'([^']*)'\s*$/.exec(clause);
    if (!m) throw new ApiError(400, 'INVALID_PARAMETER_VALUE', `Invalid filter '${filter}'`);
    return (m[1] === 'name' ? v.name : v.run_id) === m[2];
  });
}

function page<T>(items: T[], url: URL, key: string): Record<string, unknown> {
  const max = Number(url.searchParams.get('max_results') ?? 100);
  const start = Number(Buffer.from(url.searchParams.get('page_token') ?? '', 'base64').toString() || 0);
  const slice = items.slice(start, start + max);
  const next = start + max < items.length ? Buffer.from(String(start + max)).toString('base64') : undefined;
  return { [key]: slice, ...(next ? { next_page_token: next } : {}) };
}

export async function startFakeMlflow(options: { token?: string } = {}): Promise<FakeMlflow> {
  const models = new Map<string, Model>();
  const versions = new Map<string, Version[]>();
  const runs = new Map<string, Run>();
  const experiments = new Map<string, Experiment>([
    ['0', { experiment_id: '0', name: 'Default', artifact_location: 'mlflow-artifacts:/0', lifecycle_stage: 'active' }],
  ]);
  const artifacts = new Map<string, string>();
  const requests: string[] = [];
  let runSeq = 0;

  const modelJson = (m: Model) => ({
    name: m.name,
    creation_timestamp: m.creation_timestamp,
    last_updated_timestamp: m.last_updated_timestamp,
    description: m.description,
    tags: m.tags,
    aliases: [...m.aliases].map(([alias, version]) => ({ alias, version })),
    latest_versions: (versions.get(m.name) ?? []).slice(-1).map(versionJson),
  });
  const versionJson = (v: Version) => ({
    ...v,
    aliases: [...(models.get(v.name)?.aliases ?? [])]
      .filter(([, version]) => version === v.version)
      .map(([alias]) => alias),
  });
  const model = (name: string | null) => {
    const m = name ? models.get(name) : undefined;
    if (!m) throw new ApiError(404, 'RESOURCE_DOES_NOT_EXIST', `Registered Model with name=${name} not found`);
    return m;
  };
  const version = (name: string | null, v: string | null) => {
    model(name);
    if (!/^\d+$/.test(v ?? ''))
      throw new ApiError(400, 'INVALID_PARAMETER_VALUE', `Model version must be an integer, got '${v}'`);
    const found = (versions.get(name!) ?? []).find((x) => x.version === v);
    if (!found)
      throw new ApiError(404, 'RESOURCE_DOES_NOT_EXIST', `Model Version (name=${name}, version=${v}) not found`);
    return found;
  };
  const run = (id: unknown) => {
    const r = runs.get(String(id));
    if (!r) throw new ApiError(404, 'RESOURCE_DOES_NOT_EXIST', `Run '${id}' not found`);
    return r;
  };

  /** MLflow's server-side check of a model version's source (mlflow/server/handlers.py, since 2.2.1). */
  function checkSource(source: string, runId: string | undefined): void {
    const local = source.startsWith('file:') || source.startsWith('/') || !/^[a-z][a-z0-9+.-]*:/i.test(source);
    if (!local) return;
    const artifactUri = runId ? runs.get(runId)?.info.artifact_uri : undefined;
    if (artifactUri?.startsWith('file:')) {
      const dir = fileURLToPath(artifactUri);
      const path = source.startsWith('file:') ? fileURLToPath(source) : resolve(source);
      if (path === dir || path.startsWith(`${dir}${sep}`)) return;
    }
    throw new ApiError(
      400,
      'INVALID_PARAMETER_VALUE',
      `Invalid model version source: '${source}'. To use a local path as a model version source, the run_id request parameter has to be specified and the local path has to be contained within the artifact directory of the run specified by the run_id.`,
    );
  }

  async function handle(req: IncomingMessage, url: URL, body: Record<string, unknown>): Promise<unknown> {
    const q = (k: string) => url.searchParams.get(k) ?? (body[k] as string | undefined) ?? null;
    const route = `${req.method} ${url.pathname.replace('/api/2.0/mlflow/', '')}`;
    switch (route) {
      case 'POST registered-models/create': {
        const name = String(body.name ?? '');
        if (!name) throw new ApiError(400, 'INVALID_PARAMETER_VALUE', "Missing value for required parameter 'name'.");
        if (models.has(name))
          throw new ApiError(400, 'RESOURCE_ALREADY_EXISTS', `Registered Model (name=${name}) already exists.`);
        const now = Date.now();
        const m: Model = {
          name,
          description: String(body.description ?? ''),
          creation_timestamp: now,
          last_updated_timestamp: now,
          tags: [],
          aliases: new Map(),
        };
        models.set(name, m);
        versions.set(name, []);
        return { registered_model: modelJson(m) };
      }
      case 'GET registered-models/get':
        return { registered_model: modelJson(model(q('name'))) };
      case 'GET registered-models/search':
        return page(
          [...models.values()].sort((a, b) => a.name.localeCompare(b.name)).map(modelJson),
          url,
          'registered_models',
        );
      case 'POST registered-models/set-tag':
        setTag(model(q('name')).tags, String(body.key), String(body.value));
        return {};
      case 'POST registered-models/alias': {
        const v = version(q('name'), String(body.version));
        model(v.name).aliases.set(String(body.alias), v.version);
        return {};
      }
      case 'DELETE registered-models/alias':
        model(q('name')).aliases.delete(String(q('alias')));
        return {};
      case 'GET registered-models/alias': {
        const m = model(q('name'));
        const v = m.aliases.get(String(q('alias')));
        if (!v) throw new ApiError(404, 'RESOURCE_DOES_NOT_EXIST', `Registered model alias ${q('alias')} not found.`);
        return { model_version: versionJson(version(m.name, v)) };
      }
      case 'POST experiments/create': {
        const name = String(body.name ?? '');
        if (!name) throw new ApiError(400, 'INVALID_PARAMETER_VALUE', "Missing value for required parameter 'name'.");
        if ([...experiments.values()].some((e) => e.name === name))
          throw new ApiError(400, 'RESOURCE_ALREADY_EXISTS', `Experiment '${name}' already exists.`);
        const id = String(experiments.size);
        experiments.set(id, {
          experiment_id: id,
          name,
          artifact_location: String(body.artifact_location ?? `mlflow-artifacts:/${id}`),
          lifecycle_stage: 'active',
        });
        return { experiment_id: id };
      }
      case 'GET experiments/get-by-name': {
        const found = [...experiments.values()].find((e) => e.name === q('experiment_name'));
        if (!found)
          throw new ApiError(
            404,
            'RESOURCE_DOES_NOT_EXIST',
            `Could not find experiment with name '${q('experiment_name')}'`,
          );
        return { experiment: found };
      }
      case 'POST model-versions/create': {
        const m = model(String(body.name));
        checkSource(String(body.source ?? ''), body.run_id === undefined ? undefined : String(body.run_id));
        const list = versions.get(m.name)!;
        const now = Date.now();
        const v: Version = {
          name: m.name,
          version: String(list.length + 1),
          creation_timestamp: now,
          last_updated_timestamp: now,
          user_id: '',
          current_stage: 'None',
          source: String(body.source ?? ''),
          run_id: String(body.run_id ?? ''),
          status: 'READY',
          tags: ((body.tags as Tag[] | undefined) ?? []).map((t) => ({ ...t })),
        };
        list.push(v);
        return { model_version: versionJson(v) };
      }
      case 'GET model-versions/get':
        return { model_version: versionJson(version(q('name'), q('version'))) };
      case 'GET model-versions/search': {
        const filter = url.searchParams.get('filter') ?? '';
        const all = [...versions.values()].flat().filter((v) => matches(filter, v));
        return page(all.map(versionJson), url, 'model_versions');
      }
      case 'POST model-versions/set-tag':
        setTag(version(q('name'), q('version')).tags, String(body.key), String(body.value));
        return {};
      case 'POST runs/create': {
        const id = `${(++runSeq).toString(16).padStart(8, '0')}${'0'.repeat(24)}`;
        const experiment = String(body.experiment_id ?? '0');
        const r: Run = {
          info: {
            run_id: id,
            run_uuid: id,
            experiment_id: experiment,
            user_id: '',
            status: 'RUNNING',
            start_time: Number(body.start_time ?? Date.now()),
            artifact_uri: `${experiments.get(experiment)?.artifact_location ?? `mlflow-artifacts:/${experiment}`}/${id}/artifacts`,
            lifecycle_stage: 'active',
          },
          data: { metrics: [], params: [], tags: ((body.tags as Tag[] | undefined) ?? []).map((t) => ({ ...t })) },
          inputs: { dataset_inputs: [] },
        };
        runs.set(id, r);
        return { run: r };
      }
      case 'GET runs/get':
        return { run: run(q('run_id')) };
      case 'POST runs/log-batch': {
        const r = run(body.run_id);
        for (const p of (body.params as Tag[] | undefined) ?? []) r.data.params.push({ key: p.key, value: p.value });
        for (const m of (body.metrics as Run['data']['metrics'] | undefined) ?? []) {
          r.data.metrics = r.data.metrics.filter((x) => x.key !== m.key);
          r.data.metrics.push(m);
        }
        for (const t of (body.tags as Tag[] | undefined) ?? []) setTag(r.data.tags, t.key, t.value);
        return {};
      }
      case 'POST runs/log-inputs':
        run(body.run_id).inputs.dataset_inputs.push(
          ...((body.datasets as Run['inputs']['dataset_inputs'] | undefined) ?? []),
        );
        return {};
      default:
        throw new ApiError(404, 'ENDPOINT_NOT_FOUND', `No API endpoint ${route}`);
    }
  }

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://mlflow');
    requests.push(`${req.method} ${url.pathname}`);
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c.toString()));
    req.on('end', () => {
      const send = (status: number, payload: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(payload));
      };
      // MLflow's basic-auth app answers an unauthenticated request with 401 and plain text.
      if (options.token && req.headers.authorization !== `Bearer ${options.token}`) {
        res.writeHead(401, { 'content-type': 'text/plain', 'www-authenticate': 'Basic realm="mlflow"' });
        res.end(
          'You are not authenticated. Please see https://www.mlflow.org/docs/latest/auth/index.html#authenticating-to-mlflow on how to authenticate.',
        );
        return;
      }
      const artifact = /^\/api\/2\.0\/mlflow-artifacts\/artifacts\/(.+)$/.exec(url.pathname);
      if (artifact) {
        const path = decodeURIComponent(artifact[1]!);
        if (req.method === 'PUT') {
          artifacts.set(path, raw);
          return send(200, {});
        }
        const content = artifacts.get(path);
        if (content === undefined)
          return send(404, { error_code: 'RESOURCE_DOES_NOT_EXIST', message: `File ${path} not found` });
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        return res.end(content);
      }
      let body: Record<string, unknown> = {};
      try {
        body = raw ? (JSON.parse(raw) as Record<string, unknown>) : {};
      } catch {
        return send(400, { error_code: 'MALFORMED_REQUEST', message: 'Request body is not JSON' });
      }
      handle(req, url, body).then(
        (payload) => send(200, payload),
        (err: unknown) =>
          err instanceof ApiError
            ? send(err.status, { error_code: err.code, message: err.message })
            : send(500, { error_code: 'INTERNAL_ERROR', message: String(err) }),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    models,
    versions,
    runs,
    experiments,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
