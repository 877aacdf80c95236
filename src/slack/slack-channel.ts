// The Slack app as one object: the Web API client, the approval notifier, the handlers of
// signed interactions and events, and the chat replies. Built in two steps because the
// notifier must exist before the approvals service (createRuntime takes it), and the
// handlers need that service: create, createRuntime({ notifiers: [slack.notifier] }),
// then connect(runtime parts).
import type { WebClient } from '@slack/web-api';
import type { Run, Trigger } from '../agent/run.js';
import type { Clock } from '../clock.js';
import { systemClock } from '../clock.js';
import type { SlackConfig } from './web-client.js';
import type { Logger } from '../logger.js';
import type { AuditAppender } from '../gate/index.js';
import type { ApprovalNotifier } from '../approvals/approvals.js';
import { attentionMessage } from './attention-notice.js';
import { createBackgroundTasks } from './background-tasks.js';
import { readSlackEvent, slackChatTrigger } from './chat-events.js';
import { createSlackChatReplies } from './chat-replies.js';
import { readInteraction } from './interaction-payload.js';
import { verifySlackSignature, type SignatureCheck, type SignedRequest } from './signature.js';
import {
  createSlackInteractions,
  EVENT_MEMORY_MS,
  type SlackAck,
  type SlackApprovals,
  type SlackInteractions,
} from './slack-interactions.js';
import { createSlackNotifier, QUIET } from './slack-notifier.js';
import { createSlackWebClient, slackCall, type SlackClientOptions } from './web-client.js';

export interface SlackChannelOptions {
  slack: SlackConfig;
  logger: Logger;
  clock?: Clock;
  clientOptions?: SlackClientOptions;
}

/** What the handlers need of the runtime. */
export interface SlackRuntimeParts {
  approvals: SlackApprovals;
  runs: { get(id: string): Promise<Run | undefined> };
  audit: AuditAppender;
}

export type EnqueueChat = (trigger: Trigger) => Promise<{ runId: string }>;

export interface SlackChannel {
  readonly client: WebClient;
  readonly notifier: ApprovalNotifier;
  connect(parts: SlackRuntimeParts): void;
  /** Checks X-Slack-Signature and the timestamp; a refusal is audited before this resolves. */
  verify(request: SignedRequest, route: 'interactions' | 'events'): Promise<SignatureCheck>;
  /** A verified interaction (form body): acknowledged at once, acted on after. */
  interaction(rawBody: Buffer): Promise<SlackAck>;
  /** A verified Events API request (JSON body): the handshake, or a question that becomes a chat run. */
  event(body: unknown, enqueue: EnqueueChat, retryNum: string | null): Promise<SlackAck>;
  /** For the worker's onSettled. */
  settled(run: Run): void;
  /** Resolves when the work after acknowledgements has settled (shutdown, tests). */
  idle(): Promise<void>;
}

export function createSlackChannel(options: SlackChannelOptions): SlackChannel {
  const { slack, logger } = options;
  const clock = options.clock ?? systemClock;
  const client = createSlackWebClient(slack, logger, options.clientOptions);
  const tasks = createBackgroundTasks(logger);
  let parts: SlackRuntimeParts | null = null;
  let interactions: SlackInteractions | null = null;
  const notifier = createSlackNotifier({ client, channel: slack.approvalChannel, logger, runs: () => parts?.runs });
  const replies = createSlackChatReplies({ client, tasks, logger });
  // Looked up by ids from Slack's payloads: a Map has no `__proto__` or `constructor` of
  // its own, so such an id is simply unknown.
  const users: ReadonlyMap<string, string> = new Map(Object.entries(slack.users));

  const connected = (): SlackRuntimeParts => {
    if (!parts) throw new Error('the Slack channel is not connected to the runtime (call connect first)');
    return parts;
  };

  async function auditChatRefusal(
    slackUser: string,
    code: string,
    reason: string,
    data: Record<string, unknown>,
  ): Promise<void> {
    await connected().audit.append({
      runId: null,
      principal: `slack:${slackUser}`,
      kind: 'chat.refused',
      data: { code, reason, via: 'slack', ...data },
    });
  }

  return {
    client,
    notifier,

    connect(runtime) {
      parts = runtime;
      interactions = createSlackInteractions({
        client,
        approvals: runtime.approvals,
        users,
        approvalChannel: slack.approvalChannel,
        tasks,
        logger,
      });
    },

    async verify(request, route) {
      const check = verifySlackSignature(slack.signingSecret, request, clock.now());
      if (check.ok) return check;
      // What the request claims, for whoever reads the audit log; none of it is trusted.
      const claimedBy = (user: string | null) => (user ? ` (claims to be from Slack user ${user})` : '');
      if (route === 'interactions') {
        const claimed = readInteraction(request.rawBody.toString('utf8'));
        await connected().approvals.refuse({
          principal: 'slack:unverified',
          approvalId: claimed.kind !== 'ignored' ? claimed.approvalId : null,
          code: check.code,
          message: `unverified Slack request to /v1/slack/interactions refused: ${check.message}${claimedBy(claimed.slackUser)}`,
          via: 'slack',
        });
      } else {
        await connected().audit.append({
          runId: null,
          principal: 'slack:unverified',
          kind: 'chat.refused',
          data: {
            code: check.code,
            reason: `unverified Slack request to /v1/slack/events refused: ${check.message}`,
            via: 'slack',
          },
        });
      }
      return check;
    },

    async interaction(rawBody) {
      if (!interactions) throw new Error('the Slack channel is not connected to the runtime (call connect first)');
      return interactions.accept(readInteraction(rawBody.toString('utf8')));
    },

    async event(body, enqueue, retryNum) {
      const read = readSlackEvent(body);
      if (read.kind === 'challenge') return { status: 200, body: { challenge: read.challenge } };
      if (read.kind === 'ignored') {
        logger.debug({ why: read.why }, 'Slack event ignored');
        return { status: 200 };
      }
      const { approvals } = connected();
      const { thread, eventId, text } = read;
      // Slack retries an event it thinks we missed (X-Slack-Retry-Num); the event id is
      // remembered server-side, so a retry starts a run only if the first never arrived.
      if (!(await approvals.claimOnce(`slack:event:${eventId}`, EVENT_MEMORY_MS))) {
        await auditChatRefusal(
          thread.user,
          'duplicate',
          `Slack event ${eventId} was already received${retryNum ? ` (retry ${retryNum})` : ''}`,
          { eventId },
        );
        return { status: 200 };
      }
      const principal = users.get(thread.user);
      if (!principal) {
        const reason = `Slack user ${thread.user} is not mapped to an identity (slack.users in the mlops-agent config), so no run was started. Ask the operator to add your member id.`;
        await auditChatRefusal(thread.user, 'unknown_slack_user', reason, { eventId, channel: thread.channel });
        replies.refused(thread, reason);
        return { status: 200 };
      }
      tasks.run(`starting a chat run for Slack event ${eventId}`, async () => {
        try {
          const { runId } = await enqueue(slackChatTrigger(principal, eventId, thread, text));
          logger.info({ runId, eventId, principal }, 'Slack chat run enqueued');
          replies.started(thread, runId);
        } catch (err) {
          replies.refused(
            thread,
            'The run could not be queued (a system the agent depends on failed); please ask again in a minute.',
          );
          throw err;
        }
      });
      return { status: 200 };
    },

    settled(run) {
      replies.settled(run);
      // A run that cannot go on without a person is said where the people are.
      if (run.status === 'needs_attention') {
        const message = attentionMessage(run);
        tasks.run(`posting that run ${run.id} needs attention`, async () => {
          await slackCall(`posting that run ${run.id} needs attention`, () =>
            client.chat.postMessage({
              channel: slack.approvalChannel,
              text: message.text,
              blocks: message.blocks,
              ...QUIET,
            }),
          );
        });
      }
    },

    idle: () => tasks.idle(),
  };
}
