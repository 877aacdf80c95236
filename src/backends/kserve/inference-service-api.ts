// Reads and patches InferenceServices (serving.kserve.io/v1beta1) through the Kubernetes
// API with @kubernetes/client-node, as `kubectl patch --type merge` does, and turns the
// API's failures into errors that say what to fix.
import { ApiException, CustomObjectsApi, KubeConfig, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { NotFoundError, UpstreamError, UserError } from '../../errors.js';

export const GROUP = 'serving.kserve.io';
export const VERSION = 'v1beta1';
export const PLURAL = 'inferenceservices';

export interface TrafficTarget {
  revisionName?: string;
  percent?: number;
  latestRevision?: boolean;
  tag?: string;
  url?: string;
}

/** The subset of an InferenceService the deployer reads (the v1beta1 CRD's field names). */
export interface InferenceService {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace: string;
    resourceVersion?: string;
    generation?: number;
    annotations?: Record<string, string>;
  };
  spec: {
    predictor: {
      canaryTrafficPercent?: number;
      model?: { modelFormat?: { name: string }; storageUri?: string };
      [field: string]: unknown;
    };
  };
  status?: {
    observedGeneration?: number;
    conditions?: { type: string; status: string; reason?: string; message?: string }[];
    components?: {
      predictor?: {
        latestCreatedRevision?: string;
        latestReadyRevision?: string;
        latestRolledoutRevision?: string;
        previousRolledoutRevision?: string;
        traffic?: TrafficTarget[];
      };
    };
  };
}

/** A JSON merge patch (RFC 7386): null removes a field. */
export interface InferenceServicePatch {
  metadata: { resourceVersion?: string; annotations: Record<string, string | null> };
  spec?: { predictor: { canaryTrafficPercent?: number | null; model?: { storageUri: string } } };
}

export interface InferenceServiceApi {
  /** Undefined when the InferenceService does not exist. */
  get(namespace: string, name: string): Promise<InferenceService | undefined>;
  /** Merge-patches; with metadata.resourceVersion set, a concurrent change makes it fail with a conflict (409). */
  patch(namespace: string, name: string, patch: InferenceServicePatch): Promise<InferenceService>;
  /** The API server's URL, for messages. */
  server: string;
}

export class ConflictError extends UpstreamError {
  constructor(what: string, cause: unknown) {
    super('kubernetes', `${what} changed while it was patched (409 Conflict)`, { retryable: true, cause });
  }
}

export function loadKubeConfig(options: { kubeconfig?: string; context?: string }): KubeConfig {
  const kc = new KubeConfig();
  try {
    if (options.kubeconfig) kc.loadFromFile(options.kubeconfig);
    else if (process.env.KUBERNETES_SERVICE_HOST) kc.loadFromCluster();
    else kc.loadFromDefault();
    if (options.context) kc.setCurrentContext(options.context);
  } catch (err) {
    throw new UserError(
      `cannot load the kubeconfig ${options.kubeconfig ?? '(default)'}: ${(err as Error).message}; set kserve.kubeconfig to a readable kubeconfig file`,
      { code: 'config_invalid', cause: err },
    );
  }
  if (options.context && !kc.getContextObject(options.context)) {
    throw new UserError(
      `kubeconfig has no context "${options.context}" (it has: ${
        kc
          .getContexts()
          .map((c) => c.name)
          .join(', ') || 'none'
      }); fix kserve.context`,
      { code: 'config_invalid' },
    );
  }
  if (!kc.getCurrentCluster())
    throw new UserError(
      'the kubeconfig names no cluster for its current context; set kserve.kubeconfig or kserve.context',
      { code: 'config_invalid' },
    );
  return kc;
}

export function createInferenceServiceApi(kc: KubeConfig): InferenceServiceApi {
  const api = kc.makeApiClient(CustomObjectsApi);
  const server = kc.getCurrentCluster()!.server;
  const explain = (err: unknown, namespace: string, name: string, verb: 'get' | 'patch'): Error => {
    const what = `InferenceService ${namespace}/${name}`;
    if (err instanceof ApiException) {
      const code = err.code;
      const message = apiMessage(err.body);
      if (code === 401)
        return new UserError(
          `the Kubernetes API at ${server} refused the credentials (401${message ? `: ${message}` : ''}); renew the kubeconfig's token or certificate`,
          { code: 'config_invalid', cause: err },
        );
      if (code === 403)
        return new UserError(
          `the Kubernetes API at ${server} forbids ${verb} on ${what} (403${message ? `: ${message}` : ''}); grant the agent's account get and patch on inferenceservices.serving.kserve.io in namespace ${namespace}`,
          { code: 'config_invalid', cause: err },
        );
      if (code === 404)
        return new NotFoundError(
          `${what} not found at ${server}; create it (with KServe installed), or fix kserve.inferenceServices`,
          { cause: err },
        );
      if (code === 409) return new ConflictError(what, err);
      if (code === 422 || code === 400)
        return new UserError(
          `the Kubernetes API rejected the ${verb} of ${what} (${code}${message ? `: ${message}` : ''})`,
          { cause: err },
        );
      return new UpstreamError('kubernetes', `${verb} ${what} answered ${code}${message ? `: ${message}` : ''}`, {
        retryable: code >= 500 || code === 429,
        cause: err,
      });
    }
    const detail =
      (err as { code?: string; cause?: { code?: string } }).cause?.code ??
      (err as { code?: string }).code ??
      (err as Error).message;
    return new UpstreamError(
      'kubernetes',
      `cannot reach the Kubernetes API at ${server} (${detail}); check the kubeconfig's server and the network`,
      { retryable: true, cause: err },
    );
  };
  return {
    server,
    async get(namespace, name) {
      try {
        return (await api.getNamespacedCustomObject({
          group: GROUP,
          version: VERSION,
          namespace,
          plural: PLURAL,
          name,
        })) as InferenceService;
      } catch (err) {
        if (err instanceof ApiException && err.code === 404) return undefined;
        throw explain(err, namespace, name, 'get');
      }
    },
    async patch(namespace, name, body) {
      try {
        return (await api.patchNamespacedCustomObject(
          { group: GROUP, version: VERSION, namespace, plural: PLURAL, name, body, fieldManager: 'mlops-agent' },
          setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
        )) as InferenceService;
      } catch (err) {
        throw explain(err, namespace, name, 'patch');
      }
    },
  };
}

/** A Kubernetes Status body's message, whether the client parsed it or kept the text. */
function apiMessage(body: unknown): string | undefined {
  let parsed = body;
  if (typeof body === 'string') {
    try {
      parsed = JSON.parse(body);
    } catch {
      return body.slice(0, 200) || undefined;
    }
  }
  const message = (parsed as { message?: unknown } | null)?.message;
  return typeof message === 'string' ? message : undefined;
}
