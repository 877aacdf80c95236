// A local Kubernetes API server for the subset the KServe deployer uses: GET and PATCH
// (JSON merge patch) of serving.kserve.io/v1beta1 InferenceServices, with bearer-token
// auth, Status bodies for 401/403/404/409/415 as the API server sends them, resourceVersion
// and generation as Kubernetes keeps them, and a simulated KServe controller that, shortly
// after each change, creates a revision when the model changed and reports the traffic
// split in status.components.predictor as KServe's canary rollout does.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeInferenceService {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace: string;
    resourceVersion: string;
    generation: number;
    uid: string;
    annotations?: Record<string, string>;
  };
  spec: { predictor: { canaryTrafficPercent?: number; model: { modelFormat: { name: string }; storageUri: string } } };
  status?: Record<string, unknown>;
}

export interface RecordedPatch {
  namespace: string;
  name: string;
  contentType: string | undefined;
  body: Record<string, unknown>;
}

export interface FakeKServeServer {
  url: string;
  token: string;
  /** Creates an InferenceService serving `storageUri` at 100% (revision 00001 rolled out). */
  create(namespace: string, name: string, storageUri: string): void;
  get(namespace: string, name: string): FakeInferenceService | undefined;
  /** The traffic the controller routes now, with each revision's storageUri (what a gateway would serve). */
  routes(namespace: string, name: string): { storageUri: string; percent: number; latestRevision: boolean }[];
  patches: RecordedPatch[];
  /** Namespaces whose requests are refused with 403. */
  forbidden: Set<string>;
  /** Called after each GET is answered, before the client can write: to change the object in between. */
  afterRead: ((namespace: string, name: string) => void) | undefined;
  /** The controller writes status again (a new resourceVersion, nothing else changes), as KServe's does often. */
  writeStatus(namespace: string, name: string): void;
  /** Someone else (an operator's kubectl) merge-patches the object. */
  edit(namespace: string, name: string, patch: Record<string, unknown>): void;
  close(): Promise<void>;
}

const PATH = /^\/apis\/serving\.kserve\.io\/v1beta1\/namespaces\/([^/]+)\/inferenceservices\/([^/?]+)$/;

/** RFC 7386: objects merge, null deletes, anything else replaces. */
function mergePatch(target: unknown, patch: unknown): unknown {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return patch;
  const out: Record<string, unknown> =
    target !== null && typeof target === 'object' && !Array.isArray(target)
      ? { ...(target as Record<string, unknown>) }
      : {};
  for (const [k, v] of Object.entries(patch as Record<string, unknown>)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

export async function startFakeKServeServer(options: { reconcileDelayMs?: number } = {}): Promise<FakeKServeServer> {
  const token = 'kserve-test-token';
  const delay = options.reconcileDelayMs ?? 30;
  const objects = new Map<string, FakeInferenceService>();
  /** Per object: its revisions (name, storageUri) and which is rolled out. */
  const controller = new Map<
    string,
    { revisions: { name: string; storageUri: string }[]; rolledOut: string; previous?: string }
  >();
  const patches: RecordedPatch[] = [];
  const forbidden = new Set<string>();
  const timers = new Set<NodeJS.Timeout>();
  let resourceVersion = 1000;

  const status = (res: ServerResponse, code: number, reason: string, message: string) => {
    res.writeHead(code, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code }),
    );
  };

  function reconcile(key: string): void {
    const isvc = objects.get(key);
    const state = controller.get(key);
    if (!isvc || !state) return;
    const { name } = isvc.metadata;
    const latest = state.revisions.at(-1)!;
    if (latest.storageUri !== isvc.spec.predictor.model.storageUri) {
      state.revisions.push({
        name: `${name}-predictor-${String(state.revisions.length + 1).padStart(5, '0')}`,
        storageUri: isvc.spec.predictor.model.storageUri,
      });
    }
    const ready = state.revisions.at(-1)!.name;
    const canary = isvc.spec.predictor.canaryTrafficPercent;
    if (canary === undefined && ready !== state.rolledOut) {
      state.previous = state.rolledOut;
      state.rolledOut = ready;
    }
    const traffic =
      ready !== state.rolledOut && canary !== undefined
        ? [
            {
              tag: 'latest',
              revisionName: ready,
              percent: canary,
              latestRevision: true,
              url: `http://latest-${name}.${isvc.metadata.namespace}.example.com`,
            },
            {
              tag: 'prev',
              revisionName: state.rolledOut,
              percent: 100 - canary,
              latestRevision: false,
              url: `http://prev-${name}.${isvc.metadata.namespace}.example.com`,
            },
          ]
        : [{ revisionName: state.rolledOut, percent: 100, latestRevision: true }];
    isvc.status = {
      observedGeneration: isvc.metadata.generation,
      url: `http://${name}.${isvc.metadata.namespace}.example.com`,
      conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: new Date().toISOString() }],
      components: {
        predictor: {
          latestCreatedRevision: ready,
          latestReadyRevision: ready,
          latestRolledoutRevision: state.rolledOut,
          ...(state.previous ? { previousRolledoutRevision: state.previous } : {}),
          traffic,
        },
      },
    };
    isvc.metadata.resourceVersion = String(++resourceVersion);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const match = PATH.exec((req.url ?? '').split('?')[0]!);
    if (req.headers.authorization !== `Bearer ${token}`) return status(res, 401, 'Unauthorized', 'Unauthorized');
    if (!match) return status(res, 404, 'NotFound', 'the server could not find the requested resource');
    const [, namespace, name] = match as unknown as [string, string, string];
    if (forbidden.has(namespace)) {
      return status(
        res,
        403,
        'Forbidden',
        `inferenceservices.serving.kserve.io "${name}" is forbidden: User "system:serviceaccount:${namespace}:mlops-agent" cannot ${req.method === 'GET' ? 'get' : 'patch'} resource "inferenceservices" in API group "serving.kserve.io" in the namespace "${namespace}"`,
      );
    }
    const key = `${namespace}/${name}`;
    const isvc = objects.get(key);
    if (!isvc) return status(res, 404, 'NotFound', `inferenceservices.serving.kserve.io "${name}" not found`);
    if (req.method === 'GET') {
      res.writeHead(200, { 'content-type': 'application/json' });
      const body = JSON.stringify(isvc);
      fake.afterRead?.(namespace, name);
      res.end(body);
      return;
    }
    if (req.method !== 'PATCH') return status(res, 405, 'MethodNotAllowed', `${req.method} is not supported`);
    const contentType = req.headers['content-type']?.split(';')[0];
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
    patches.push({ namespace, name, contentType, body });
    if (contentType !== 'application/merge-patch+json')
      return status(
        res,
        415,
        'UnsupportedMediaType',
        `the body of the request was in an unknown format - accepted media types include: application/merge-patch+json`,
      );
    const wanted = (body.metadata as { resourceVersion?: string } | undefined)?.resourceVersion;
    if (wanted !== undefined && wanted !== isvc.metadata.resourceVersion) {
      return status(
        res,
        409,
        'Conflict',
        `Operation cannot be fulfilled on inferenceservices.serving.kserve.io "${name}": the object has been modified; please apply your changes to the latest version and try again`,
      );
    }
    const next = apply(key, body);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(next));
  }

  function apply(key: string, body: Record<string, unknown>): FakeInferenceService {
    const isvc = objects.get(key)!;
    const { name, namespace } = isvc.metadata;
    const next = mergePatch(isvc, body) as FakeInferenceService;
    // Kubernetes keeps these itself: the status subresource is not patched here, and generation counts spec changes.
    next.status = isvc.status;
    next.metadata = {
      ...next.metadata,
      name,
      namespace,
      uid: isvc.metadata.uid,
      resourceVersion: String(++resourceVersion),
      generation: isvc.metadata.generation,
    };
    if (JSON.stringify(next.spec) !== JSON.stringify(isvc.spec)) {
      next.metadata.generation += 1;
      const timer = setTimeout(() => {
        timers.delete(timer);
        reconcile(key);
      }, delay);
      timers.add(timer);
    }
    objects.set(key, next);
    return next;
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => status(res, 500, 'InternalError', String(err)));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const fake: FakeKServeServer = {
    url: `http://127.0.0.1:${port}`,
    token,
    patches,
    forbidden,
    afterRead: undefined,
    writeStatus: (namespace, name) => reconcile(`${namespace}/${name}`),
    edit: (namespace, name, patch) => void apply(`${namespace}/${name}`, patch),
    create(namespace, name, storageUri) {
      const key = `${namespace}/${name}`;
      objects.set(key, {
        apiVersion: 'serving.kserve.io/v1beta1',
        kind: 'InferenceService',
        metadata: { name, namespace, resourceVersion: String(++resourceVersion), generation: 1, uid: `uid-${name}` },
        spec: { predictor: { model: { modelFormat: { name: 'sklearn' }, storageUri } } },
      });
      controller.set(key, {
        revisions: [{ name: `${name}-predictor-00001`, storageUri }],
        rolledOut: `${name}-predictor-00001`,
      });
      reconcile(key);
    },
    get: (namespace, name) => objects.get(`${namespace}/${name}`),
    routes(namespace, name) {
      const key = `${namespace}/${name}`;
      const revisions = controller.get(key)?.revisions ?? [];
      const traffic =
        (
          objects.get(key)?.status?.components as
            | { predictor?: { traffic?: { revisionName: string; percent: number; latestRevision: boolean }[] } }
            | undefined
        )?.predictor?.traffic ?? [];
      return traffic.map((t) => ({
        storageUri: revisions.find((r) => r.name === t.revisionName)!.storageUri,
        percent: t.percent,
        latestRevision: t.latestRevision,
      }));
    },
    async close() {
      for (const t of timers) clearTimeout(t);
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
  return fake;
}

/** A kubeconfig (YAML) pointing at `url` with a bearer token, as `kubectl config view --raw` writes one. */
export function kubeconfigFor(url: string, token: string): string {
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '- name: test',
    '  cluster:',
    `    server: ${url}`,
    // The client refuses plain HTTP unless TLS verification is off; the test server speaks HTTP on loopback.
    '    insecure-skip-tls-verify: true',
    'users:',
    '- name: agent',
    '  user:',
    `    token: ${token}`,
    'contexts:',
    '- name: test',
    '  context:',
    '    cluster: test',
    '    user: agent',
    'current-context: test',
    '',
  ].join('\n');
}
