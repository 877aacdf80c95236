// MLflow's REST API 2.0 over plain fetch: one call, its error body (`error_code`,
// `message`) turned into an error that says what to fix, and pagination followed.
import { NotFoundError, UpstreamError, UserError } from '../../errors.js';
import { authHeader, describeBody, requestJson } from '../http-json.js';

export interface MlflowConnection {
  trackingUri: string;
  token?: string | undefined;
  username?: string | undefined;
  password?: string | undefined;
  timeoutMs: number;
}

/** MLflow refused a request for a reason of its own (`error_code`), e.g. RESOURCE_ALREADY_EXISTS. */
export class MlflowRefusal extends UserError {
  constructor(
    readonly errorCode: string,
    message: string,
  ) {
    super(message);
  }
}

export interface MlflowClient {
  get<T>(path: string, query: Record<string, string | number | undefined>): Promise<T>;
  post<T>(path: string, body: unknown): Promise<T>;
  delete(path: string, query: Record<string, string>): Promise<void>;
  /** Every item of a search, following `next_page_token` until the last page. */
  searchAll<T>(path: string, key: string, query: Record<string, string | number | undefined>): Promise<T[]>;
  /** Where a run's artifacts are read and written through the tracking server's artifact proxy. */
  artifactUrl(path: string): string;
  headers(): Record<string, string>;
}

const SERVICE = 'MLflow';

export function createMlflowClient(c: MlflowConnection, options: { pageSize?: number } = {}): MlflowClient {
  const base = c.trackingUri.replace(/\/+$/, '');
  const headers = () => authHeader(c);
  const pageSize = options.pageSize ?? 100;

  async function call<T>(
    method: 'GET' | 'POST' | 'DELETE',
    path: string,
    query: Record<string, string | number | undefined> | null,
    body?: unknown,
  ): Promise<T> {
    const url = new URL(`${base}/api/2.0/mlflow/${path}`);
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    const res = await requestJson({
      method,
      url: url.toString(),
      headers: headers(),
      ...(body !== undefined ? { body } : {}),
      timeoutMs: c.timeoutMs,
      service: SERVICE,
    });
    if (res.status >= 200 && res.status < 300) return (res.body ?? {}) as T;
    const err = (typeof res.body === 'object' && res.body !== null ? res.body : {}) as {
      error_code?: string;
      message?: string;
    };
    if (res.status === 401 || res.status === 403) {
      throw new UserError(
        `MLflow at ${base} refused the credentials (HTTP ${res.status}): ${err.message ?? describeBody(res.body)}; set MLFLOW_TRACKING_TOKEN, or MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD, to an account that may use the model registry`,
        { code: 'config_invalid' },
      );
    }
    if (err.error_code === 'RESOURCE_DOES_NOT_EXIST') throw new NotFoundError(`MLflow: ${err.message ?? 'not found'}`);
    if (res.status >= 500 || !err.error_code) {
      throw new UpstreamError(
        SERVICE,
        `${method} ${url.pathname} answered HTTP ${res.status}: ${err.message ?? describeBody(res.body)}${res.status === 404 ? ` (is ${base} an MLflow tracking server?)` : ''}`,
        { retryable: res.status >= 500 },
      );
    }
    throw new MlflowRefusal(
      err.error_code,
      `MLflow refused ${path} (${err.error_code}): ${err.message ?? describeBody(res.body)}`,
    );
  }

  return {
    get: (path, query) => call('GET', path, query),
    post: (path, body) => call('POST', path, null, body),
    async delete(path, query) {
      await call('DELETE', path, query);
    },
    async searchAll<T>(path: string, key: string, query: Record<string, string | number | undefined>) {
      const items: T[] = [];
      let token: string | undefined;
      do {
        const page = await call<Record<string, unknown>>('GET', path, {
          ...query,
          max_results: pageSize,
          page_token: token,
        });
        items.push(...((page[key] as T[] | undefined) ?? []));
        token =
          typeof page.next_page_token === 'string' && page.next_page_token !== '' ? page.next_page_token : undefined;
      } while (token);
      return items;
    },
    artifactUrl: (path) =>
      `${base}/api/2.0/mlflow-artifacts/artifacts/${path.split('/').map(encodeURIComponent).join('/')}`,
    headers,
  };
}
