// A small client of a running `serve`, for commands that act through it (approvals): the
// bearer token names who acts, and every failure maps to who is at fault.
import { describeError, PolicyDenied, UpstreamError, UserError } from '../errors.js';
import { terminalSafe } from './terminal-safe.js';

export interface ServerClient {
  get<T>(path: string): Promise<T>;
  post<T>(path: string, body: unknown): Promise<T>;
}

export function createServerClient(options: { url: string; token: string | undefined }): ServerClient {
  const base = options.url.replace(/\/+$/, '');

  async function request<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
    if (!options.token) {
      throw new UserError(
        'no token to call the server with: set MLOPS_AGENT_TOKEN (or MLOPS_AGENT_API_TOKEN, or client.token in the config) to a token serve accepts; its principal is who acts',
        { code: 'config_invalid' },
      );
    }
    let response: Response;
    try {
      response = await fetch(`${base}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${options.token}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(30_000),
      });
    } catch (err) {
      throw new UpstreamError(
        'server',
        `cannot reach mlops-agent serve at ${base} (${describeError((err as { cause?: unknown }).cause ?? err)}); is it running? Set MLOPS_AGENT_URL or client.url to its address`,
        { retryable: true, cause: err },
      );
    }
    const text = await response.text();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      parsed = { message: text.slice(0, 300) };
    }
    if (response.ok) return parsed as T;
    // The server's message can quote a comment or an alert: one line, nothing a terminal acts on.
    const message = terminalSafe(
      String((parsed as { message?: unknown } | null)?.message ?? `HTTP ${response.status}`),
    );
    if (response.status === 401)
      throw new UserError(`the server at ${base} refused the token: ${message}`, { code: 'config_invalid' });
    if (response.status === 404) throw new UserError(message, { code: 'not_found' });
    if (response.status === 400) throw new UserError(message);
    if (response.status === 403 || response.status === 409) throw new PolicyDenied(message, null);
    throw new UpstreamError('server', `${method} ${path} failed with HTTP ${response.status}: ${message}`, {
      retryable: response.status >= 500,
    });
  }

  return {
    get: (path) => request('GET', path),
    post: (path, body) => request('POST', path, body),
  };
}
