// POST /v1/slack/interactions (button clicks, the deny form) and POST /v1/slack/events
// (the Events API: url_verification, app mentions, direct messages). Slack signs these
// instead of sending our bearer token, so they skip the token check (index.ts) and are
// refused with 401, and audited, unless the signature over the exact raw body verifies.
// Slack wants an answer within three seconds: the routes acknowledge, the work follows.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { EnqueueChat, SlackAck, SlackChannel } from '../slack/index.js';

export const SLACK_PATHS: ReadonlySet<string> = new Set(['/v1/slack/interactions', '/v1/slack/events']);

export interface SlackRouteDeps {
  slack: SlackChannel;
  enqueue: EnqueueChat;
  bodyLimitBytes: number;
}

const single = (value: string | string[] | undefined): string | null => (typeof value === 'string' ? value : null);

function send(reply: FastifyReply, ack: SlackAck) {
  return ack.body === undefined ? reply.code(ack.status).send() : reply.code(ack.status).send(ack.body);
}

export async function registerSlackRoutes(app: FastifyInstance, deps: SlackRouteDeps): Promise<void> {
  const { slack } = deps;

  // Its own scope, so the raw-body parser below does not change how other routes read JSON.
  await app.register(async (scope) => {
    // The HMAC is over the bytes as sent, so no parser may touch them first; every
    // content type (or none) is read as a buffer, so a bad request meets the signature
    // check (401) rather than a 415.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: deps.bodyLimitBytes }, (_request, body, done) =>
      done(null, body),
    );

    async function verified(
      request: FastifyRequest,
      reply: FastifyReply,
      route: 'interactions' | 'events',
    ): Promise<Buffer | null> {
      const rawBody = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
      const check = await slack.verify(
        {
          signature: request.headers['x-slack-signature'],
          timestamp: request.headers['x-slack-request-timestamp'],
          rawBody,
        },
        route,
      );
      if (check.ok) return rawBody;
      request.log.warn({ code: check.code, reason: check.message, route }, 'unverified Slack request refused');
      // Opaque on purpose: the reason is in the server log and the audit log, not for the sender.
      await reply.code(401).send({ error: 'unauthorized', message: 'not a verified Slack request' });
      return null;
    }

    scope.post('/v1/slack/interactions', async (request, reply) => {
      const rawBody = await verified(request, reply, 'interactions');
      if (!rawBody) return reply;
      return send(reply, await slack.interaction(rawBody));
    });

    scope.post('/v1/slack/events', async (request, reply) => {
      const rawBody = await verified(request, reply, 'events');
      if (!rawBody) return reply;
      let body: unknown;
      try {
        body = JSON.parse(rawBody.toString('utf8'));
      } catch {
        return reply.code(400).send({ error: 'input_invalid', message: 'the Events API body is not JSON' });
      }
      const retryNum = single(request.headers['x-slack-retry-num']);
      if (retryNum)
        request.log.info(
          { retryNum, reason: single(request.headers['x-slack-retry-reason']) },
          'Slack retried an event',
        );
      return send(reply, await slack.event(body, deps.enqueue, retryNum));
    });

    // Whatever was acknowledged gets finished before the server is gone.
    scope.addHook('onClose', async () => {
      await slack.idle();
    });
  });
}
