// What a verified click or form submission in Slack does: a vote through the approvals
// service (which checks roles, self-approval, arguments and expiry, and audits), the
// reason form for a denial, or, when it cannot count, a message only the clicker sees.
// Slack gets its acknowledgement first; the work runs after (background-tasks.ts).
import type { WebClient } from '@slack/web-api';
import type { Logger } from '../logger.js';
import type { Approvals } from '../approvals/approvals.js';
import type { BackgroundTasks } from './background-tasks.js';
import { denyModal } from './deny-modal.js';
import type { Interaction } from './interaction-payload.js';
import { escapeMrkdwn } from './mrkdwn.js';
import { MAX_SKEW_SECONDS } from './signature.js';
import { readNotice } from './slack-notifier.js';
import { slackCall } from './web-client.js';

/**
 * A signed request verifies for five minutes either side of its timestamp, so ten
 * minutes after one first arrives no copy of it can verify any more: its one-time key
 * only needs to outlive that window, and is pruned once outside it.
 */
export const REPLAY_MEMORY_MS = 2 * MAX_SKEW_SECONDS * 1000;

/**
 * Slack retries an event it thinks we missed, with fresh signatures, for a while
 * (immediately, after a minute, after five): the event id is kept longer than a replay.
 */
export const EVENT_MEMORY_MS = 60 * 60_000;

export type SlackApprovals = Pick<Approvals, 'get' | 'decide' | 'wouldTake' | 'refuse' | 'claimOnce'>;

export interface SlackInteractionsOptions {
  client: WebClient;
  approvals: SlackApprovals;
  /** Slack member id -> principal id (config `slack.users`); a Map, so no id finds Object.prototype. */
  users: ReadonlyMap<string, string>;
  approvalChannel: string;
  tasks: BackgroundTasks;
  logger: Logger;
}

/** What the route answers Slack: 200 with an empty body closes a submitted modal. */
export interface SlackAck {
  status: number;
  body?: unknown;
}

export interface SlackInteractions {
  accept(interaction: Interaction): Promise<SlackAck>;
}

export function createSlackInteractions(options: SlackInteractionsOptions): SlackInteractions {
  const { client, approvals, users, logger } = options;

  async function tell(slackUser: string, channel: string | null, text: string): Promise<void> {
    await slackCall('telling the clicker why nothing changed', () =>
      client.chat.postEphemeral({
        channel: channel ?? options.approvalChannel,
        user: slackUser,
        text: escapeMrkdwn(text),
        parse: 'none',
        link_names: false,
      }),
    );
  }

  async function channelOf(approvalId: string): Promise<string | null> {
    const approval = await approvals.get(approvalId).catch(() => undefined);
    return approval ? (readNotice(approval)?.channel ?? null) : null;
  }

  async function act(interaction: Exclude<Interaction, { kind: 'ignored' }>): Promise<void> {
    const channel = interaction.kind === 'deny_reason' ? await channelOf(interaction.approvalId) : interaction.channel;
    const approverId = users.get(interaction.slackUser);
    if (!approverId) {
      const message = `Slack user ${interaction.slackUser} is not mapped to an approver identity (slack.users in the mlops-agent config), so nothing was decided on approval ${interaction.approvalId}. Ask the operator to add your member id.`;
      await approvals.refuse({
        principal: `slack:${interaction.slackUser}`,
        approvalId: interaction.approvalId,
        code: 'unknown_slack_user',
        message,
        via: 'slack',
      });
      await tell(interaction.slackUser, channel, message);
      return;
    }

    if (interaction.kind === 'deny_click') {
      // Fail fast, before the form: a denial that would be refused (a decided approval, a
      // clicker without the role, the requester) asks for no reason and is refused now.
      const check = await approvals.wouldTake(interaction.approvalId, {
        approverId,
        verdict: 'deny',
        via: 'slack',
        argsHash: interaction.argsHash,
      });
      const approval = check.ok ? await approvals.get(interaction.approvalId) : undefined;
      if (!check.ok || !approval) {
        const refusal = check.ok ? { code: 'not_found', message: `no approval ${interaction.approvalId}` } : check;
        await approvals.refuse({
          principal: approverId,
          approvalId: interaction.approvalId,
          code: refusal.code,
          message: refusal.message,
          via: 'slack',
        });
        await tell(
          interaction.slackUser,
          channel,
          `Your denial was not recorded (${refusal.code}): ${refusal.message}`,
        );
        return;
      }
      // trigger_id is good for three seconds after the click; this runs right after the acknowledgement.
      await slackCall('opening the deny form', () =>
        client.views.open({ trigger_id: interaction.triggerId, view: denyModal(approval) }),
      );
      return;
    }

    const verdict = interaction.kind === 'grant' ? 'grant' : 'deny';
    const comment = interaction.kind === 'deny_reason' ? interaction.reason || null : null;
    const result = await approvals.decide(interaction.approvalId, {
      approverId,
      verdict,
      comment,
      via: 'slack',
      argsHash: interaction.argsHash,
    });
    if (!result.ok) {
      await tell(
        interaction.slackUser,
        channel,
        `Your ${verdict === 'grant' ? 'approval' : 'denial'} was not recorded (${result.code}): ${result.message}`,
      );
      return;
    }
    logger.info(
      { approvalId: interaction.approvalId, approver: approverId, verdict, resolved: result.resolved },
      'Slack decision recorded',
    );
  }

  return {
    async accept(interaction) {
      if (interaction.kind === 'ignored') {
        logger.info({ why: interaction.why, slackUser: interaction.slackUser }, 'Slack interaction ignored');
        return { status: 200 };
      }
      // Claimed before the acknowledgement: a second delivery finds the key taken even
      // while the first is still being worked on.
      if (!(await approvals.claimOnce(interaction.replayKey, REPLAY_MEMORY_MS))) {
        const principal = users.get(interaction.slackUser) ?? `slack:${interaction.slackUser}`;
        await approvals.refuse({
          principal,
          approvalId: interaction.approvalId,
          code: 'replayed',
          message: `a replay of a Slack ${interaction.kind} already received (${interaction.replayKey})`,
          via: 'slack',
        });
        return {
          status: 409,
          body: { error: 'replayed', message: 'this Slack action was already received; it is acted on once' },
        };
      }
      options.tasks.run(`slack ${interaction.kind} on ${interaction.approvalId}`, () => act(interaction));
      return { status: 200 };
    },
  };
}
