// The Slack ApprovalNotifier: posts the approval message to the approval channel
// (chat.postMessage) and keeps it current (chat.update) as votes arrive, the approval
// resolves or expires, and its call runs.
import type { WebClient } from '@slack/web-api';
import type { Run } from '../agent/run.js';
import type { Logger } from '../logger.js';
import type { Approval } from '../approvals/approval.js';
import type { ApprovalNotifier } from '../approvals/approvals.js';
import { approvalMessage, type ApprovalContext } from './approval-message.js';
import { slackCall } from './web-client.js';

/** Where the message is: what `requested` returns, kept by the service in `approval.notices.slack`. */
export interface SlackNotice {
  channel: string;
  ts: string;
}

export interface SlackNotifierOptions {
  client: WebClient;
  /** The approval channel (an id, or a #name: Slack answers with the id, which is kept). */
  channel: string;
  logger: Logger;
  /** Reads the run that proposed a call, for "why" in the message; absent, the message has no run context. */
  runs?: () => { get(id: string): Promise<Run | undefined> } | undefined;
}

export const SLACK_NOTIFIER_NAME = 'slack';

/** Message options for anything we post: nothing in it is to be turned into links, mentions or previews. */
export const QUIET = { parse: 'none', link_names: false, unfurl_links: false, unfurl_media: false } as const;

export function readNotice(approval: Approval): SlackNotice | null {
  const n = approval.notices[SLACK_NOTIFIER_NAME] as Partial<SlackNotice> | undefined;
  return n && typeof n.channel === 'string' && typeof n.ts === 'string' ? { channel: n.channel, ts: n.ts } : null;
}

/** How far along an approval is; an update never replaces a later state with an earlier one. */
function progress(a: Approval): number {
  return (
    (a.status === 'pending' ? 0 : 1_000_000) + a.votes.length * 1000 + (a.consumedAt ? 10 : 0) + (a.outcome ? 1 : 0)
  );
}

export function approvalContextOf(run: Run | undefined, callId: string): ApprovalContext | null {
  if (!run) return null;
  const plan = run.transcript.find((item) => item.kind === 'plan' && item.calls.some((c) => c.id === callId));
  return {
    trigger: { kind: run.trigger.kind, text: run.trigger.text },
    reasoning: plan?.kind === 'plan' ? plan.text : null,
  };
}

export function createSlackNotifier(options: SlackNotifierOptions): ApprovalNotifier {
  const { client, logger } = options;
  // Updates for one approval run one after another, newest state wins: two votes at once
  // must not leave the message showing the first.
  const chains = new Map<string, Promise<void>>();
  const shown = new Map<string, number>();

  async function contextOf(approval: Approval): Promise<ApprovalContext | null> {
    const runs = options.runs?.();
    if (!approval.runId || !runs) return null;
    try {
      return approvalContextOf(await runs.get(approval.runId), approval.callId);
    } catch (err) {
      logger.warn(
        { err, approvalId: approval.id },
        'could not read the run behind an approval; the Slack message goes without it',
      );
      return null;
    }
  }

  async function update(approval: Approval): Promise<void> {
    const notice = readNotice(approval);
    if (!notice) {
      logger.debug({ approvalId: approval.id }, 'no Slack message to update for this approval');
      return;
    }
    const step = progress(approval);
    if ((shown.get(approval.id) ?? -1) > step) return;
    const { text, blocks } = approvalMessage(approval, await contextOf(approval));
    await slackCall('updating the approval message', () =>
      client.chat.update({ channel: notice.channel, ts: notice.ts, text, blocks, parse: 'none', link_names: false }),
    );
    shown.set(approval.id, step);
    // A long-running server sees many approvals; what is decided and done needs no memory.
    if (approval.status !== 'pending' && approval.outcome) shown.delete(approval.id);
    if (shown.size > 5000) shown.delete(shown.keys().next().value!);
  }

  return {
    name: SLACK_NOTIFIER_NAME,

    async requested(approval): Promise<SlackNotice> {
      const { text, blocks } = approvalMessage(approval, await contextOf(approval));
      const posted = await slackCall('posting the approval message', () =>
        client.chat.postMessage({ channel: options.channel, text, blocks, ...QUIET }),
      );
      if (!posted.channel || !posted.ts)
        throw new Error('Slack accepted the approval message but returned no channel and ts');
      shown.set(approval.id, progress(approval));
      return { channel: posted.channel, ts: posted.ts };
    },

    updated(approval) {
      const previous = chains.get(approval.id) ?? Promise.resolve();
      const next = previous.catch(() => undefined).then(() => update(approval));
      chains.set(approval.id, next);
      const forget = () => {
        if (chains.get(approval.id) === next) chains.delete(approval.id);
      };
      next.then(forget, forget);
      return next;
    },
  };
}
