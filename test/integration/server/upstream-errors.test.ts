// A queue that cannot take the trigger: a retryable UpstreamError answers 503 with
// Retry-After (Alertmanager retries), a UserError 400, anything else 500 without details.
import { describe, expect, it } from 'vitest';
import type { RunStore } from '../../../src/agent/run-store.js';
import { UpstreamError, UserError } from '../../../src/errors.js';
import type { RunQueue } from '../../../src/intake/index.js';
import { silentLogger } from '../../../src/logger.js';
import { createServer } from '../../../src/server/index.js';
import { SCOPES } from '../../../src/api-tokens.js';

const TOKEN = 'upstream-token-0123456789';
const runs: RunStore = {
  save: async () => {},
  get: async () => undefined,
  list: async () => [],
  recent: async () => [],
};
const unused = async (): Promise<never> => {
  throw new Error('only chat is posted here: nothing appends to the audit log');
};

function failingQueue(err: Error): RunQueue {
  return {
    enqueue: async () => {
      throw err;
    },
    resume: async () => {
      throw err;
    },
    join: async () => {
      throw err;
    },
    process: () => {},
    joined: async () => [],
    setSchedules: async () => {
      throw err;
    },
    depth: async () => 0,
    close: async () => ({ handedBack: [] }),
  };
}

async function chatWith(err: Error) {
  const app = await createServer({
    runtime: { audit: { failed: null, append: unused } },
    queue: failingQueue(err),
    runs,
    tokens: [{ token: TOKEN, principal: 'user:operator', scopes: [...SCOPES] }],
    logger: silentLogger,
  });
  try {
    return await app.inject({
      method: 'POST',
      url: '/v1/chat',
      headers: { authorization: `Bearer ${TOKEN}` },
      payload: { text: 'hello' },
    });
  } finally {
    await app.close();
  }
}

describe('errors from the queue', () => {
  it('answers 503 with Retry-After for a retryable upstream failure', async () => {
    const res = await chatWith(
      new UpstreamError('redis', 'enqueue: no answer within 5000 ms', { retryable: true, code: 'upstream_timeout' }),
    );
    expect(res.statusCode).toBe(503);
    expect(res.headers['retry-after']).toBe('5');
    expect(res.json()).toMatchObject({
      error: 'upstream_timeout',
      message: 'redis: enqueue: no answer within 5000 ms',
    });
  });

  it('answers 400 for a UserError and 500 without details for anything else', async () => {
    expect((await chatWith(new UserError('bad trigger'))).statusCode).toBe(400);
    const res = await chatWith(new Error('secret internals'));
    expect(res.statusCode).toBe(500);
    expect(res.body).not.toContain('secret internals');
  });
});
