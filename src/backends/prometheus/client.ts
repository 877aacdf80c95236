// A small client of Prometheus's HTTP API (/api/v1/query, /api/v1/query_range): auth,
// a timeout per request, and errors that say what to fix (unreachable URL, 401, bad
// PromQL answered with Prometheus's own `errorType` and `error`).
import { UpstreamError, UserError } from '../../errors.js';

export type PrometheusAuth = { bearerToken: string } | { username: string; password: string };

export interface PrometheusConnection {
  /** Base URL, e.g. `http://prometheus.monitoring:9090` (a path prefix is kept). */
  url: string;
  auth?: PrometheusAuth;
  /** Per request, and passed on as the query's `timeout` (default 10 s). */
  timeoutMs?: number;
}

/** One series of an instant query (`value`) or a range query (`values`), numbers parsed. */
export interface PromSeries {
  metric: Record<string, string>;
  value?: [number, number];
  values?: [number, number][];
}

export type PromQueryResult =
  { resultType: 'vector' | 'matrix'; series: PromSeries[] } | { resultType: 'scalar'; scalar: [number, number] };

export interface PrometheusClient {
  query(promql: string, at?: Date): Promise<PromQueryResult>;
  queryRange(promql: string, range: { start: Date; end: Date; stepSeconds: number }): Promise<PromQueryResult>;
}

interface ApiBody {
  status?: string;
  errorType?: string;
  error?: string;
  data?: { resultType?: string; result?: unknown };
}

export function createPrometheusClient(connection: PrometheusConnection): PrometheusClient {
  const base = connection.url.replace(/\/+$/, '');
  const timeoutMs = connection.timeoutMs ?? 10_000;
  const headers: Record<string, string> = {
    accept: 'application/json',
    'content-type': 'application/x-www-form-urlencoded',
  };
  if (connection.auth && 'bearerToken' in connection.auth)
    headers.authorization = `Bearer ${connection.auth.bearerToken}`;
  else if (connection.auth)
    headers.authorization = `Basic ${Buffer.from(`${connection.auth.username}:${connection.auth.password}`).toString('base64')}`;

  async function call(path: string, params: Record<string, string>, promql: string): Promise<PromQueryResult> {
    const url = `${base}${path}`;
    // POST with a form body, as Prometheus documents, so a long query never hits a URL limit.
    const body = new URLSearchParams({ ...params, timeout: `${Math.max(1, Math.floor(timeoutMs / 1000))}s` });
    let response: Response;
    try {
      response = await fetch(url, { method: 'POST', headers, body, signal: AbortSignal.timeout(timeoutMs) });
    } catch (err) {
      const timedOut = err instanceof DOMException && err.name === 'TimeoutError';
      throw new UpstreamError(
        'prometheus',
        timedOut
          ? `no answer from ${url} within ${timeoutMs} ms; raise prometheus.timeoutMs or check the server's load`
          : `cannot reach ${url} (${(err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message}); check prometheus.url`,
        { retryable: true, code: timedOut ? 'upstream_timeout' : 'upstream_failed', cause: err },
      );
    }
    if (response.status === 401 || response.status === 403) {
      throw new UserError(
        `prometheus: ${url} answered ${response.status}: ${connection.auth ? 'the configured credentials were refused' : 'it needs credentials'}; set prometheus.auth (bearerToken, or username and password)`,
        { code: 'config_invalid' },
      );
    }
    const text = await response.text();
    let parsed: ApiBody;
    try {
      parsed = JSON.parse(text) as ApiBody;
    } catch {
      throw new UpstreamError(
        'prometheus',
        `${url} answered ${response.status} with a body that is not Prometheus's JSON (${text.slice(0, 120)}); is prometheus.url the Prometheus server?`,
        { retryable: response.status >= 500 },
      );
    }
    if (parsed.status !== 'success') {
      const reason = `${parsed.errorType ?? 'error'}: ${parsed.error ?? `HTTP ${response.status}`}`;
      // bad_data is the query itself (PromQL syntax, a bad parameter): fix the template.
      if (parsed.errorType === 'bad_data')
        throw new UserError(`prometheus rejected the query ${JSON.stringify(promql)}: ${reason}`, {
          code: 'config_invalid',
        });
      throw new UpstreamError('prometheus', `query ${JSON.stringify(promql)} failed: ${reason}`, {
        retryable: parsed.errorType === 'timeout' || parsed.errorType === 'unavailable' || response.status >= 500,
        code: parsed.errorType === 'timeout' ? 'upstream_timeout' : 'upstream_failed',
      });
    }
    return parseData(parsed.data, url);
  }

  return {
    query: (promql, at) => call('/api/v1/query', { query: promql, ...(at ? { time: seconds(at) } : {}) }, promql),
    queryRange: (promql, range) =>
      call(
        '/api/v1/query_range',
        { query: promql, start: seconds(range.start), end: seconds(range.end), step: String(range.stepSeconds) },
        promql,
      ),
  };
}

const seconds = (d: Date) => (d.getTime() / 1000).toFixed(3);
/** Prometheus sends sample values as strings ("NaN", "+Inf" included). */
const sample = (pair: unknown): [number, number] => {
  const [t, v] = pair as [number, string];
  return [Number(t), Number(v)];
};

function parseData(data: ApiBody['data'], url: string): PromQueryResult {
  const type = data?.resultType;
  if (type === 'scalar') return { resultType: 'scalar', scalar: sample(data!.result) };
  if ((type === 'vector' || type === 'matrix') && Array.isArray(data!.result)) {
    const series = (data!.result as { metric?: Record<string, string>; value?: unknown; values?: unknown[] }[]).map(
      (s) => ({
        metric: s.metric ?? {},
        ...(s.value !== undefined ? { value: sample(s.value) } : {}),
        ...(s.values !== undefined ? { values: s.values.map(sample) } : {}),
      }),
    );
    return { resultType: type, series };
  }
  throw new UpstreamError(
    'prometheus',
    `${url} answered a result of type ${String(type)}; analysis templates need a vector, matrix or scalar`,
    { retryable: false },
  );
}
