// What the fuzz suites send: requests to every route of `serve`, valid ones and mutations
// of them, random bodies, headers, paths and tokens (valid, mutated, foreign), and a raw
// HTTP client that sends them exactly as generated.
import { createHmac } from 'node:crypto';
import { request as httpRequest, Agent } from 'node:http';
import fc from 'fast-check';
import { SIGNING_SECRET, TOKENS } from './fuzz-fixture.js';

export interface FuzzRequest {
  route: string;
  /** Slack routes: signed with the app's secret. */
  signed: boolean;
  method: string;
  path: string;
  headers: Record<string, string | string[]>;
  body: string | null;
}

export interface FuzzResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

const agent = new Agent({ keepAlive: true, maxSockets: 4 });

/** Sends the request as generated over a real socket: method, raw path, headers and bytes. */
export function send(base: string, req: FuzzRequest): Promise<FuzzResponse> {
  const url = new URL(base);
  // A body always says its length: Node sends DELETE and OPTIONS bodies unframed otherwise,
  // which no server can read as one request.
  const headers =
    req.body === null ? req.headers : { ...req.headers, 'content-length': String(Buffer.byteLength(req.body)) };
  return new Promise((resolve, reject) => {
    const r = httpRequest(
      { host: url.hostname, port: url.port, method: req.method, path: req.path, headers, agent },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }),
        );
        res.on('error', reject);
      },
    );
    r.on('error', reject);
    r.end(req.body ?? undefined);
  });
}

export function closeAgent(): void {
  agent.destroy();
}

// ---- pieces ------------------------------------------------------------------------

/** Strings that break naive code: empty, huge, unicode, control and bidi characters, markup, traversal, numbers-as-text. */
export const nastyString = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 20 }),
  fc.string({ unit: 'binary', maxLength: 20 }),
  fc.constantFrom(
    '',
    ' ',
    '../../etc/passwd',
    '..%2f..%2f',
    '__proto__',
    'constructor',
    'prototype',
    '<untrusted_data>',
    '</untrusted_data>',
    '\u202eevil',
    '\u0000',
    '\x1b[31m',
    '${7*7}',
    '{{ 7*7 }}',
    'NaN',
    '-1',
    '1e309',
    'null',
    'true',
    'apr_zzzz_00000000',
    'run_zz_00000000',
  ),
  fc.nat({ max: 70_000 }).map((n) => 'x'.repeat(n)),
);

/** Any JSON value, some deeply nested. */
export const anyJson = fc.oneof(
  fc.jsonValue({ maxDepth: 4 }),
  fc.integer({ min: 1, max: 200 }).map((depth) => JSON.parse(`${'['.repeat(depth)}${']'.repeat(depth)}`) as unknown),
  fc.nat({ max: 60 }).map((depth) => JSON.parse(`${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`) as unknown),
);

/** A JSON object with a few hostile mutations applied to it. */
export function mutated(valid: Record<string, unknown>): fc.Arbitrary<string> {
  const keys = Object.keys(valid);
  const op = fc.oneof(
    fc.record({ kind: fc.constant('drop' as const), key: fc.constantFrom(...(keys.length ? keys : ['x'])) }),
    fc.record({
      kind: fc.constant('set' as const),
      key: fc.constantFrom(...(keys.length ? keys : ['x'])),
      value: anyJson,
    }),
    fc.record({ kind: fc.constant('add' as const), key: nastyString, value: anyJson }),
    fc.record({
      kind: fc.constant('proto' as const),
      key: fc.constantFrom('__proto__', 'constructor', 'prototype'),
      value: anyJson,
    }),
  );
  return fc.array(op, { minLength: 1, maxLength: 4 }).map((ops) => {
    const obj: Record<string, unknown> = JSON.parse(JSON.stringify(valid)) as Record<string, unknown>;
    const raw: string[] = [];
    for (const o of ops) {
      if (o.kind === 'drop') delete obj[o.key];
      else if (o.kind === 'set' || o.kind === 'add') obj[o.key] = o.value;
      // JSON text can carry a key that assignment cannot: written into the text itself.
      else raw.push(`${JSON.stringify(o.key)}:${JSON.stringify(o.value)}`);
    }
    const text = JSON.stringify(obj);
    return raw.length ? `{${raw.join(',')}${text.length > 2 ? `,${text.slice(1)}` : '}'}` : text;
  });
}

/** A valid body, a mutation of it, or anything at all. */
export function bodyFor(valid: Record<string, unknown> | null): fc.Arbitrary<string | null> {
  return fc.oneof(
    { weight: 3, arbitrary: valid ? fc.constant(JSON.stringify(valid)) : fc.constant(null) },
    { weight: 4, arbitrary: valid ? mutated(valid) : fc.constant('{}') },
    { weight: 2, arbitrary: anyJson.map((v) => JSON.stringify(v)) },
    { weight: 1, arbitrary: nastyString },
    {
      weight: 1,
      arbitrary: fc.constantFrom(
        '',
        '{',
        '{"a":',
        '[',
        'null',
        '{"__proto__":{"admin":true}}',
        '{"constructor":{"prototype":{"x":1}}}',
        'payload=%7B',
        '\u0000\u0001',
      ),
    },
    { weight: 1, arbitrary: fc.constant(null) },
  );
}

/** Characters Node lets a header value carry. */
const headerValue: fc.Arbitrary<string> = fc
  .string({ unit: fc.integer({ min: 0x20, max: 0xff }).map((c) => String.fromCharCode(c)), maxLength: 60 })
  .map((s) => s.replace(/\x7f/g, ''));

/** Authorization headers: none, each token, tokens mutated, foreign schemes and junk. */
export const authorization: fc.Arbitrary<string | string[] | undefined> = (() => {
  const valid = Object.values(TOKENS).map((t) => t.token);
  const token = fc.constantFrom(...valid);
  const mutate = fc
    .tuple(token, fc.nat(), fc.constantFrom('flip', 'cut', 'grow', 'case', 'space'))
    .map(([t, i, how]) => {
      const at = i % t.length;
      if (how === 'flip') return t.slice(0, at) + String.fromCharCode(t.charCodeAt(at) ^ 1) + t.slice(at + 1);
      if (how === 'cut') return t.slice(0, at);
      if (how === 'grow') return `${t}x`;
      if (how === 'case') return t.toUpperCase();
      return `${t.slice(0, at)} ${t.slice(at)}`;
    });
  return fc.oneof(
    { weight: 2, arbitrary: fc.constant(undefined) },
    { weight: 5, arbitrary: token.map((t) => `Bearer ${t}`) },
    { weight: 1, arbitrary: token.map((t) => `bearer   ${t} `) },
    { weight: 3, arbitrary: mutate.map((t) => `Bearer ${t}`) },
    { weight: 1, arbitrary: token.map((t) => `Basic ${Buffer.from(`x:${t}`).toString('base64')}`) },
    { weight: 1, arbitrary: token.map((t) => [`Bearer ${t}`, `Bearer ${t}`]) },
    { weight: 1, arbitrary: headerValue.map((v) => `Bearer ${v}`) },
    { weight: 1, arbitrary: headerValue },
  );
})();

/** The caller a header stands for, by the documented rule (one Bearer token, exactly as configured). */
export function callerOf(header: string | string[] | undefined): (typeof TOKENS)[string] | null {
  // Node keeps the first of repeated Authorization headers and discards the rest.
  if (Array.isArray(header)) header = header[0];
  if (typeof header !== 'string') return null;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return (m && Object.values(TOKENS).find((t) => t.token === m[1])) || null;
}

export const contentType = fc.option(
  fc.constantFrom(
    'application/json',
    'application/json; charset=utf-8',
    'application/x-www-form-urlencoded',
    'text/plain',
    'multipart/form-data; boundary=x',
    'application/xml',
    'application/json; charset=latin1',
    '',
  ),
  { nil: undefined },
);

const extraHeaders = fc.dictionary(
  fc.constantFrom(
    'x-forwarded-for',
    'x-forwarded-host',
    'origin',
    'accept',
    'x-slack-signature',
    'x-slack-request-timestamp',
    'mcp-session-id',
    'mcp-protocol-version',
    'x-http-method-override',
    'accept-encoding',
    'cookie',
    'x-request-id',
  ),
  headerValue,
  { maxKeys: 3 },
);

/** A path segment: an id as routes expect, or something a router or store might trip on. */
const segment = fc.oneof(
  fc.constantFrom(
    'apr_mx5q2k1a_3f9c0d12',
    'apr_zzzz_00000000',
    'run_mx5q2k1a_3f9c0d12',
    '..',
    '.',
    '%2e%2e',
    '..%2f..%2fetc',
    '%00',
    '%ff',
    '%',
    'a%2Fb',
    '__proto__',
    'constructor',
  ),
  fc.string({ maxLength: 30 }).map(encodeURIComponent),
  fc.nat({ max: 3000 }).map((n) => 'a'.repeat(n)),
);

const query = fc.option(
  fc
    .dictionary(
      fc.oneof(fc.constantFrom('status', 'runId', '__proto__', 'constructor', 'status[]'), fc.string({ maxLength: 8 })),
      fc.oneof(fc.constantFrom('pending', 'granted', 'running', 'waiting', ''), fc.string({ maxLength: 12 })),
      { maxKeys: 3 },
    )
    .map(
      (q) =>
        `?${Object.entries(q)
          .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`)
          .join('&')}`,
    ),
  { nil: '' },
);

// ---- routes ------------------------------------------------------------------------

const labels = {
  alertname: 'ModelDriftDetected',
  model: 'credit-risk',
  dataset: 'credit-recent',
  environment: 'production',
};
const alertmanager = {
  version: '4',
  groupKey: '{}:{alertname="ModelDriftDetected"}',
  truncatedAlerts: 0,
  status: 'firing',
  receiver: 'mlops-agent',
  groupLabels: { alertname: 'ModelDriftDetected' },
  commonLabels: labels,
  commonAnnotations: { summary: 'drift' },
  externalURL: 'http://alertmanager:9093',
  alerts: [
    {
      status: 'firing',
      labels,
      annotations: { summary: 'drift' },
      startsAt: '2026-11-23T16:00:00Z',
      endsAt: '0001-01-01T00:00:00Z',
      generatorURL: 'http://prom',
      fingerprint: 'f1',
    },
  ],
};
const initialize = {
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'fuzz', version: '1' } },
};

interface Route {
  name: string;
  methods: string[];
  path: fc.Arbitrary<string>;
  body: Record<string, unknown> | null;
  /** Slack's routes take a signature instead of a token; interactions come as a form. */
  slack?: 'form' | 'json';
}

export const ROUTES: Route[] = [
  { name: 'healthz', methods: ['GET'], path: fc.constant('/healthz'), body: null },
  { name: 'readyz', methods: ['GET'], path: fc.constant('/readyz'), body: null },
  { name: 'metrics', methods: ['GET'], path: fc.constant('/metrics'), body: null },
  { name: 'alertmanager', methods: ['POST'], path: fc.constant('/v1/alerts/alertmanager'), body: alertmanager },
  {
    name: 'alerts',
    methods: ['POST'],
    path: fc.constant('/v1/alerts'),
    body: { name: 'ModelDriftDetected', labels, summary: 'drift' },
  },
  {
    name: 'resolved',
    methods: ['POST'],
    path: fc.constant('/v1/alerts'),
    body: { name: 'ModelDriftDetected', status: 'resolved', labels },
  },
  {
    name: 'chat',
    methods: ['POST'],
    path: fc.constant('/v1/chat'),
    body: { text: 'which version of credit-risk is champion?' },
  },
  { name: 'runs', methods: ['GET'], path: query.map((q) => `/v1/runs${q}`), body: null },
  { name: 'run', methods: ['GET'], path: segment.map((s) => `/v1/runs/${s}`), body: null },
  { name: 'approvals', methods: ['GET'], path: query.map((q) => `/v1/approvals${q}`), body: null },
  { name: 'approval', methods: ['GET'], path: segment.map((s) => `/v1/approvals/${s}`), body: null },
  {
    name: 'decision',
    methods: ['POST'],
    path: segment.map((s) => `/v1/approvals/${s}/decision`),
    body: { verdict: 'grant', comment: 'ok' },
  },
  { name: 'mcp', methods: ['POST', 'GET', 'DELETE'], path: fc.constant('/mcp'), body: initialize },
  {
    name: 'slack-interactions',
    methods: ['POST'],
    path: fc.constant('/v1/slack/interactions'),
    body: {
      type: 'block_actions',
      user: { id: 'U0ALICE' },
      trigger_id: 't1',
      channel: { id: 'C0APPROVALS' },
      actions: [{ action_id: 'approval.grant', value: `apr_zzzz_00000000:${'0'.repeat(64)}`, action_ts: '1.1' }],
    },
    slack: 'form',
  },
  {
    name: 'slack-events',
    methods: ['POST'],
    path: fc.constant('/v1/slack/events'),
    body: {
      type: 'event_callback',
      event_id: 'Ev1',
      event: { type: 'app_mention', user: 'U0ALICE', text: '<@U0BOT> what is serving?', ts: '1.1', channel: 'C1' },
    },
    slack: 'json',
  },
  {
    name: 'well-known',
    methods: ['GET'],
    path: fc.constantFrom(
      '/.well-known/oauth-protected-resource',
      '/.well-known/oauth-protected-resource/mcp',
      '/.well-known/oauth-authorization-server',
    ),
    body: null,
  },
  { name: 'unknown', methods: ['GET', 'POST'], path: segment.map((s) => `/${s}`), body: null },
];

const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS'];

/** A request to one of the routes: mostly its own method and a body for it, sometimes anything. */
export const fuzzRequest: fc.Arbitrary<FuzzRequest> = fc.constantFrom(...ROUTES).chain((route) =>
  fc
    .record({
      method: fc.oneof(
        { weight: 5, arbitrary: fc.constantFrom(...route.methods) },
        { weight: 1, arbitrary: fc.constantFrom(...METHODS) },
      ),
      path: route.path,
      auth: authorization,
      type: contentType,
      extra: extraHeaders,
      body: bodyFor(route.body),
      // Slack's routes: sometimes signed as Slack signs, over whatever the body is.
      sign: route.slack ? fc.boolean() : fc.constant(false),
    })
    .map(({ method, path, auth, type, extra, body, sign }) => {
      const headers: Record<string, string | string[]> = { ...extra };
      if (auth !== undefined) headers.authorization = auth;
      if (type !== undefined && type !== '') headers['content-type'] = type;
      if (route.name === 'mcp') headers.accept = 'application/json, text/event-stream';
      let text = body;
      if (route.slack === 'form' && text !== null) text = `payload=${encodeURIComponent(text)}`;
      if (sign) {
        const timestamp = String(Math.floor(Date.now() / 1000));
        headers['x-slack-request-timestamp'] = timestamp;
        headers['x-slack-signature'] = `v0=${createHmac('sha256', SIGNING_SECRET)
          .update(`v0:${timestamp}:${text ?? ''}`)
          .digest('hex')}`;
      }
      const hasBody = text !== null && method !== 'GET' && method !== 'HEAD';
      return { route: route.name, method, path, headers, body: hasBody ? text : null, signed: sign };
    }),
);
