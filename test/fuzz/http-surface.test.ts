// Property-based fuzzing of every HTTP route of `serve` (fast-check): random and mutated
// bodies, headers, paths, methods and tokens, sent over a real socket. For each request:
// a 4xx and never a 5xx for bad input; no run, approval or audit entry for a request that
// is unauthenticated or invalid (a refusal people must be able to find, like a forged
// Slack click or a refused decision, is audited as a refusal and changes nothing else);
// and the server stays healthy. `npm test` runs a fixed seed and a bounded count;
// `npm run fuzz` runs many more (MLOPS_FUZZ_RUNS, MLOPS_FUZZ_SEED).
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readAuditEntries } from '../../src/audit/index.js';
import { callerOf, closeAgent, fuzzRequest, send, type FuzzRequest, type FuzzResponse } from './arbitraries.js';
import { fuzzBudget, fuzzFixture, TOKENS, type Changes, type FuzzFixture } from './fuzz-fixture.js';

let fx: FuzzFixture;
beforeAll(async () => {
  fx = await fuzzFixture();
});
afterAll(async () => {
  if (process.env.MLOPS_FUZZ_STATS) {
    for (const [route, statuses] of [...seen].sort())
      console.log(
        `${route.padEnd(20)} ${[...statuses]
          .sort((a, b) => a[0] - b[0])
          .map(([s, n]) => `${s}:${n}`)
          .join(' ')}`,
      );
  }
  closeAgent();
  await fx?.close();
});

const PUBLIC = new Set(['healthz', 'well-known']);
const SLACK = new Set(['slack-interactions', 'slack-events']);
/** Refusals recorded on purpose: a refused decision, an unverified or unmapped Slack request. */
const REFUSAL_KINDS = new Set(['approval.refused', 'chat.refused']);

async function newEntries(before: Changes, after: Changes) {
  if (after.auditSeq === before.auditSeq) return [];
  return (await readAuditEntries(fx.runtime.config.auditFile, { tail: after.auditSeq - before.auditSeq })).filter(
    (e) => e.seq > before.auditSeq,
  );
}

function describeCase(req: FuzzRequest, res: FuzzResponse): string {
  return `${req.method} ${req.path.slice(0, 120)} (${req.route}) -> ${res.status} ${res.body.slice(0, 300)}`;
}

/** route -> status -> count, printed with MLOPS_FUZZ_STATS=1 to see what a run exercised. */
const seen = new Map<string, Map<number, number>>();

async function check(req: FuzzRequest): Promise<void> {
  const before = await fx.snapshot();
  const res = await send(fx.base, req);
  const after = await fx.snapshot();
  const byStatus = seen.get(req.route) ?? new Map<number, number>();
  byStatus.set(res.status, (byStatus.get(res.status) ?? 0) + 1);
  seen.set(req.route, byStatus);
  const what = describeCase(req, res);
  expect(res.status, what).toBeGreaterThanOrEqual(200);
  expect(res.status, `a 5xx for bad input: ${what}`).toBeLessThan(500);

  const caller = callerOf(req.headers.authorization);
  const entries = await newEntries(before, after);
  const unauthenticated = !PUBLIC.has(req.route) && !SLACK.has(req.route) && caller === null;
  // Without a valid token nothing is served (401, or 400/404 for what is no route at all).
  if (unauthenticated) expect(res.status, `served without a token: ${what}`).toBeGreaterThanOrEqual(400);

  const refusedOrInvalid = res.status >= 400 || unauthenticated || (SLACK.has(req.route) && !req.signed);
  if (refusedOrInvalid) {
    expect(after.enqueued - before.enqueued, `a run for a refused request: ${what}`).toBe(0);
    expect(after.joined - before.joined, `a join for a refused request: ${what}`).toBe(0);
    expect(after.approvals - before.approvals, `an approval for a refused request: ${what}`).toBe(0);
    const allowed =
      (req.route === 'decision' && [403, 404, 409].includes(res.status) && caller !== null) || SLACK.has(req.route);
    const kinds = entries.map((e) => e.kind);
    if (allowed)
      expect(
        kinds.filter((k) => !REFUSAL_KINDS.has(k)),
        `audited more than a refusal: ${what}`,
      ).toEqual([]);
    else expect(kinds, `an audit entry for an invalid request: ${what}`).toEqual([]);
  }
  // Nothing any request says makes an approval: only the gate parks calls.
  if (req.route !== 'mcp') expect(after.approvals, what).toBe(before.approvals);
}

describe('fuzzing the HTTP surface', () => {
  it('answers every request, however malformed, with a non-5xx status, and records nothing for one it refuses', async () => {
    const { numRuns, seed } = fuzzBudget(250);
    await fc.assert(fc.asyncProperty(fuzzRequest, check), { numRuns, seed, endOnFailure: true });
  });

  it('stays healthy afterwards: liveness, readiness, and real work still go through', async () => {
    const auth = { authorization: `Bearer ${TOKENS.operator!.token}` };
    expect((await fx.app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    const ready = await fx.app.inject({ method: 'GET', url: '/readyz', headers: auth });
    expect(ready.statusCode, ready.body).toBe(200);
    const chat = await fx.app.inject({
      method: 'POST',
      url: '/v1/chat',
      headers: auth,
      payload: { text: 'still there?' },
    });
    expect(chat.statusCode).toBe(202);
    const init = await send(fx.base, {
      route: 'mcp',
      signed: false,
      method: 'POST',
      path: '/mcp',
      headers: { ...auth, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        method: 'initialize',
        params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'after', version: '1' } },
      }),
    });
    expect([200, 429]).toContain(init.status);
  });
});
