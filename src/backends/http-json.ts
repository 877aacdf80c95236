// One JSON request to a backend over HTTP, for the adapters that speak to a team's own
// services (MLflow, a training service). A connection that fails or times out becomes an
// UpstreamError naming the URL; the caller reads the status and the parsed body.
import { UpstreamError } from '../errors.js';

export interface JsonResponse {
  status: number;
  /** The parsed body; the raw text when it is not JSON; null when empty. */
  body: unknown;
}

export interface JsonRequest {
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  url: string;
  headers?: Record<string, string>;
  body?: unknown;
  timeoutMs: number;
  /** Named in errors, e.g. "MLflow". */
  service: string;
}

export async function requestJson(req: JsonRequest): Promise<JsonResponse> {
  let response: Response;
  try {
    response = await fetch(req.url, {
      method: req.method,
      headers: {
        accept: 'application/json',
        ...(req.body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...req.headers,
      },
      ...(req.body !== undefined ? { body: JSON.stringify(req.body) } : {}),
      signal: AbortSignal.timeout(req.timeoutMs),
    });
  } catch (err) {
    const e = err as Error & { cause?: { code?: string; message?: string } };
    if (e.name === 'TimeoutError') {
      throw new UpstreamError(req.service, `${req.method} ${req.url} did not answer within ${req.timeoutMs} ms`, {
        retryable: true,
        code: 'upstream_timeout',
        cause: err,
      });
    }
    const why = e.cause?.code ?? e.cause?.message ?? e.message;
    throw new UpstreamError(
      req.service,
      `cannot reach ${req.url} (${why}): check the URL and that the server is running`,
      { retryable: true, cause: err },
    );
  }
  const text = await response.text();
  let body: unknown = text === '' ? null : text;
  try {
    if (text !== '') body = JSON.parse(text);
  } catch {
    // Not JSON: the text itself is what the server said.
  }
  return { status: response.status, body };
}

/** `Authorization` for a bearer token or basic credentials, or nothing. */
export function authHeader(auth: {
  token?: string | undefined;
  username?: string | undefined;
  password?: string | undefined;
}): Record<string, string> {
  if (auth.token) return { authorization: `Bearer ${auth.token}` };
  if (auth.username !== undefined && auth.password !== undefined)
    return { authorization: `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}` };
  return {};
}

/** A short, single-line rendering of what a server answered, for error messages. */
export function describeBody(body: unknown): string {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  const line = (text ?? '').replace(/\s+/g, ' ').trim();
  return line.length > 300 ? `${line.slice(0, 300)}…` : line || '(empty body)';
}
