// A local server speaking Slack's Web API wire protocol for the methods the agent uses
// (chat.postMessage, chat.update, chat.postEphemeral, views.open), so tests run Slack's
// own WebClient over real HTTP. Like Slack: POST /api/<method>, a form-urlencoded body
// (nested values JSON-encoded) or JSON, `Authorization: Bearer <token>`, HTTP 200 with
// `{ ok: true, ... }` or `{ ok: false, error }`, and message timestamps like "1767225600.000100".
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface SlackCall {
  method: string;
  params: Record<string, any>;
  contentType: string | undefined;
  authorization: string | undefined;
}

export interface StoredMessage {
  channel: string;
  ts: string;
  thread_ts?: string;
  text: string;
  blocks: any[];
  /** Every version, the first posted one first. */
  versions: { text: string; blocks: any[] }[];
}

export interface FakeSlackOptions {
  token?: string;
  /** Channel ids it knows; `#name` resolves to the id of that name. */
  channels?: Record<string, string>;
}

export interface FakeSlackServer {
  /** For WebClient's slackApiUrl / SLACK_API_URL. */
  apiUrl: string;
  token: string;
  calls: SlackCall[];
  callsTo(method: string): SlackCall[];
  /** Messages by channel id and ts. */
  messages: Map<string, StoredMessage>;
  message(channel: string, ts: string): StoredMessage | undefined;
  /** The next call of `method` fails: with a Slack error code, or an HTTP status. */
  failNext(method: string, failure: { error: string } | { status: number }): void;
  close(): Promise<void>;
}

const FIELDS_IN_JSON = new Set(['blocks', 'attachments', 'view', 'metadata']);

function readBody(request: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    request.on('data', (c: Buffer) => chunks.push(c));
    request.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    request.on('error', reject);
  });
}

function parseParams(contentType: string | undefined, body: string): Record<string, any> | null {
  if (contentType?.startsWith('application/json')) return body ? (JSON.parse(body) as Record<string, any>) : {};
  if (contentType?.startsWith('application/x-www-form-urlencoded')) {
    const params: Record<string, any> = {};
    for (const [key, value] of new URLSearchParams(body))
      params[key] = FIELDS_IN_JSON.has(key) ? JSON.parse(value) : value;
    return params;
  }
  return null;
}

/** What Slack refuses as invalid_blocks, for the limits our messages must respect. */
function blocksProblem(blocks: unknown): string | null {
  if (blocks === undefined) return null;
  if (!Array.isArray(blocks) || blocks.length > 50) return 'blocks must be an array of at most 50';
  for (const b of blocks as any[]) {
    if (b.type === 'section' && b.text && (b.text.text.length > 3000 || b.text.text.length === 0))
      return 'section text must be 1..3000 characters';
    if (
      b.type === 'section' &&
      Array.isArray(b.fields) &&
      (b.fields.length > 10 || b.fields.some((f: any) => f.text.length > 2000))
    )
      return 'section fields: at most 10 of 2000 characters';
    if (b.type === 'header' && b.text.text.length > 150) return 'header text must be at most 150 characters';
    if (b.type === 'actions' && b.elements.some((e: any) => (e.value ?? '').length > 2000))
      return 'button value at most 2000 characters';
  }
  return null;
}

export async function startFakeSlackServer(options: FakeSlackOptions = {}): Promise<FakeSlackServer> {
  const token = options.token ?? 'xoxb-fake-token';
  const channels = options.channels ?? { '#approvals': 'C0APPROVALS' };
  const known = new Set(Object.values(channels));
  const calls: SlackCall[] = [];
  const messages = new Map<string, StoredMessage>();
  const failures = new Map<string, ({ error: string } | { status: number })[]>();
  let counter = 0;
  const nextTs = () => `${1767225600 + counter}.${String(++counter * 100).padStart(6, '0')}`;
  const channelId = (c: unknown): string | null => {
    if (typeof c !== 'string') return null;
    const id = channels[c] ?? c;
    return known.has(id) || /^D[A-Z0-9]+$/.test(id) ? id : null;
  };

  function handle(method: string, p: Record<string, any>): Record<string, unknown> {
    switch (method) {
      case 'chat.postMessage': {
        const channel = channelId(p.channel);
        if (!channel) return { ok: false, error: 'channel_not_found' };
        if (!p.text && !p.blocks) return { ok: false, error: 'no_text' };
        const problem = blocksProblem(p.blocks);
        if (problem) return { ok: false, error: 'invalid_blocks', errors: [problem] };
        const ts = nextTs();
        const stored: StoredMessage = {
          channel,
          ts,
          text: p.text ?? '',
          blocks: p.blocks ?? [],
          versions: [{ text: p.text ?? '', blocks: p.blocks ?? [] }],
          ...(p.thread_ts ? { thread_ts: p.thread_ts } : {}),
        };
        messages.set(`${channel}:${ts}`, stored);
        return {
          ok: true,
          channel,
          ts,
          message: { type: 'message', text: stored.text, blocks: stored.blocks, ts, bot_id: 'B0FAKEBOT' },
        };
      }
      case 'chat.update': {
        const channel = channelId(p.channel);
        if (!channel) return { ok: false, error: 'channel_not_found' };
        const stored = messages.get(`${channel}:${p.ts}`);
        if (!stored) return { ok: false, error: 'message_not_found' };
        const problem = blocksProblem(p.blocks);
        if (problem) return { ok: false, error: 'invalid_blocks', errors: [problem] };
        stored.text = p.text ?? stored.text;
        stored.blocks = p.blocks ?? stored.blocks;
        stored.versions.push({ text: stored.text, blocks: stored.blocks });
        return { ok: true, channel, ts: stored.ts, text: stored.text };
      }
      case 'chat.postEphemeral': {
        const channel = channelId(p.channel);
        if (!channel) return { ok: false, error: 'channel_not_found' };
        if (!p.user) return { ok: false, error: 'user_not_in_channel' };
        return { ok: true, message_ts: nextTs() };
      }
      case 'views.open': {
        if (!p.trigger_id) return { ok: false, error: 'invalid_arguments' };
        const view = p.view as any;
        if (!view || view.type !== 'modal' || !view.title || view.title.text.length > 24)
          return { ok: false, error: 'invalid_arguments' };
        return {
          ok: true,
          view: { ...view, id: `V0${String(++counter).padStart(8, '0')}`, hash: `${counter}.fakehash` },
        };
      }
      default:
        return { ok: false, error: 'unknown_method' };
    }
  }

  const server: Server = createServer(async (request, response) => {
    const method = (request.url ?? '').replace(/^\/api\//, '').split('?')[0] ?? '';
    const body = await readBody(request);
    const contentType = request.headers['content-type'];
    const reply = (status: number, json: unknown) => {
      response.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
      response.end(JSON.stringify(json));
    };
    let params: Record<string, any> | null;
    try {
      params = parseParams(contentType, body);
    } catch {
      params = null;
    }
    calls.push({ method, params: params ?? {}, contentType, authorization: request.headers.authorization });
    if (request.method !== 'POST' || params === null) return reply(200, { ok: false, error: 'invalid_form_data' });
    const presented = /^Bearer (.+)$/.exec(request.headers.authorization ?? '')?.[1] ?? params.token;
    if (!presented) return reply(200, { ok: false, error: 'not_authed' });
    if (presented !== token) return reply(200, { ok: false, error: 'invalid_auth' });
    const failure = failures.get(method)?.shift();
    if (failure && 'status' in failure) return reply(failure.status, { ok: false, error: 'fake_http_failure' });
    if (failure) return reply(200, { ok: false, error: failure.error });
    return reply(200, handle(method, params));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    apiUrl: `http://127.0.0.1:${port}/api/`,
    token,
    calls,
    callsTo: (method) => calls.filter((c) => c.method === method),
    messages,
    message: (channel, ts) => messages.get(`${channel}:${ts}`),
    failNext(method, failure) {
      failures.set(method, [...(failures.get(method) ?? []), failure]);
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
