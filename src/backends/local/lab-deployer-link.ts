// The lab's deployer over HTTP. `lab up` owns the deployer, because its model servers route
// every request by the split in memory and its canary analysis reads what they served;
// `serve` (and a worker) act on it through this link, with the lab's bearer token. Errors
// cross as what they were: a UserError stays a UserError with its code, so the gate and the
// tools answer as they would in-process. The deployer's exactly-once contract (keys,
// `lookup`) is the lab's own deployer's: this link adds nothing to remember.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Deployer } from '../../../tools/ports.js';
import { describeError, UpstreamError, UserError, type ErrorCode } from '../../errors.js';

const METHODS = [
  'getSplit',
  'deployCanary',
  'startCanary',
  'rollout',
  'waitForRollout',
  'rollback',
  'lookup',
  'startShadow',
  'endShadow',
  'shadows',
] as const;
type Method = (typeof METHODS)[number];
/** Longest one waitForRollout call is held open; the caller asks again for longer waits. */
const MAX_WAIT_MS = 30_000;

/** Answers POST /deployer/<method> with `{ result }` or `{ error: { kind, message, code } }`. */
export async function handleDeployerCall(
  deployer: Deployer,
  method: string,
  args: unknown,
  res: ServerResponse,
): Promise<void> {
  const send = (status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  if (!(METHODS as readonly string[]).includes(method))
    return send(404, {
      error: { kind: 'user', code: 'not_found', message: `the lab's deployer has no method "${method}"` },
    });
  if (!Array.isArray(args))
    return send(400, { error: { kind: 'user', code: 'input_invalid', message: 'body must be {"args": [...]}' } });
  try {
    const call = method as Method;
    if (call === 'waitForRollout') {
      const [model, environment, options] = args as [string, never, { timeoutMs: number }];
      return send(200, {
        result:
          (await deployer.waitForRollout(model, environment, {
            timeoutMs: Math.min(Number(options?.timeoutMs) || 0, MAX_WAIT_MS),
          })) ?? null,
      });
    }
    const fn = deployer[call] as (...a: unknown[]) => Promise<unknown>;
    send(200, { result: (await fn.apply(deployer, args)) ?? null });
  } catch (err) {
    const kind = err instanceof UserError ? 'user' : 'upstream';
    send(kind === 'user' ? 400 : 502, {
      error: {
        kind,
        message: err instanceof Error ? err.message : describeError(err),
        code: (err as { code?: string }).code ?? null,
      },
    });
  }
}

export async function readBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > 1024 * 1024) throw new UserError('body exceeds 1 MiB');
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new UserError(`body is not valid JSON: ${describeError(err)}`);
  }
}

/** The Deployer port, answered by the deployer of the `lab up` at `url`. */
export function createDeployerLink(options: { url: string; token: string; fetch?: typeof fetch }): Deployer {
  const doFetch = options.fetch ?? fetch;
  async function call<T>(method: Method, args: unknown[], signal?: AbortSignal): Promise<T> {
    let res: Response;
    try {
      res = await doFetch(`${options.url}/deployer/${method}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${options.token}` },
        body: JSON.stringify({ args }),
        ...(signal ? { signal } : {}),
      });
    } catch (err) {
      throw new UpstreamError(
        'lab',
        `the lab at ${options.url} did not answer ${method} (${describeError(err)}); is \`mlops-agent lab up\` running?`,
        { retryable: true, cause: err },
      );
    }
    const body = (await res.json().catch(() => null)) as {
      result?: T;
      error?: { kind: string; message: string; code: string | null };
    } | null;
    if (res.ok && body && 'result' in body) return (body.result ?? undefined) as T;
    const error = body?.error;
    if (error?.kind === 'user')
      throw new UserError(error.message, { code: (error.code ?? 'input_invalid') as ErrorCode });
    throw new UpstreamError('lab', error?.message ?? `HTTP ${res.status} from ${method}`, { retryable: true });
  }
  return {
    getSplit: (model, environment) => call('getSplit', [model, environment]),
    deployCanary: (request) => call('deployCanary', [request]),
    startCanary: (request) => call('startCanary', [request]),
    rollout: (model, environment) => call('rollout', [model, environment]),
    async waitForRollout(model, environment, { timeoutMs, signal }) {
      // Held open by the lab at most MAX_WAIT_MS at a time; asked again until the time is up.
      const until = Date.now() + timeoutMs;
      for (;;) {
        const rollout = await call<Awaited<ReturnType<Deployer['waitForRollout']>>>(
          'waitForRollout',
          [model, environment, { timeoutMs: Math.max(0, until - Date.now()) }],
          signal,
        );
        if (rollout?.status !== 'progressing' || Date.now() >= until || signal?.aborted) return rollout;
      }
    },
    rollback: (request) => call('rollback', [request]),
    lookup: (key) => call('lookup', [key]),
    startShadow: (request) => call('startShadow', [request]),
    endShadow: (request) => call('endShadow', [request]),
    // The analysis is the lab's: its model servers keep the stats it is computed from.
    shadows: async (model, environment) =>
      (await call<Awaited<ReturnType<Deployer['shadows']>>>('shadows', [model, environment])) ?? [],
  };
}
