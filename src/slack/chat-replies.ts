// Chat in Slack, the way out: when a run Slack started settles (answered, failed, refused,
// or parked for approval) the worker's onSettled tells this, and it posts in the
// question's thread. The answer is the model's text: escaped like everything else.
import type { KnownBlock, WebClient } from '@slack/web-api';
import type { Run } from '../agent/run.js';
import type { Logger } from '../logger.js';
import type { BackgroundTasks } from './background-tasks.js';
import { slackThreadOf, type SlackThread } from './chat-events.js';
import { escapeMrkdwn, inlineCode, SECTION_LIMIT, truncateEscaped, untrusted } from './mrkdwn.js';
import { QUIET } from './slack-notifier.js';
import { slackCall } from './web-client.js';

export interface SlackChatReplies {
  /** Says in the thread that a run started, so the asker knows it was heard. */
  started(thread: SlackThread, runId: string): void;
  /** Says why a question was not taken (only the asker sees it). */
  refused(thread: SlackThread, message: string): void;
  /** For the worker's onSettled: posts the run's outcome in its thread, if Slack started it. */
  settled(run: Run): void;
}

// A message holds at most 50 blocks; an answer longer than this many sections is cut.
const MAX_SECTIONS = 10;

/** Long text as several sections (each at most 3000 characters), cut at line ends where possible. */
export function sections(escaped: string): KnownBlock[] {
  const section = (text: string): KnownBlock => ({ type: 'section', text: { type: 'mrkdwn', text, verbatim: true } });
  const blocks: KnownBlock[] = [];
  let rest = escaped;
  while (rest.length > 0) {
    if (rest.length <= SECTION_LIMIT || blocks.length === MAX_SECTIONS - 1) {
      blocks.push(section(truncateEscaped(rest, SECTION_LIMIT)));
      break;
    }
    let piece = rest.slice(0, SECTION_LIMIT);
    const nl = piece.lastIndexOf('\n');
    if (nl > SECTION_LIMIT / 2) piece = piece.slice(0, nl + 1);
    // Never split an entity (&amp;) between two sections.
    piece = piece.replace(/&[a-z]{0,4}$/, '');
    blocks.push(section(piece));
    rest = rest.slice(piece.length);
  }
  return blocks;
}

function pendingApprovals(run: Run): string[] {
  const ids: string[] = [];
  for (const item of run.transcript) {
    if (item.kind === 'result' && item.outcome.status === 'pending_approval' && item.outcome.approvalId)
      ids.push(item.outcome.approvalId);
    if (item.kind === 'approval' && ids.includes(item.approvalId)) ids.splice(ids.indexOf(item.approvalId), 1);
  }
  return ids;
}

function replyFor(run: Run): { text: string; blocks: KnownBlock[] } {
  switch (run.status) {
    case 'succeeded': {
      const answer = escapeMrkdwn(run.answer || '(the run ended without an answer)');
      return { text: truncateEscaped(answer, 300), blocks: sections(answer) };
    }
    case 'needs_attention': {
      const text = `Run ${inlineCode(run.id)} needs a person: ${escapeMrkdwn(run.answer ?? run.error ?? 'no reason recorded')}`;
      return { text: truncateEscaped(text, 300), blocks: sections(text) };
    }
    case 'waiting_approval': {
      const ids = pendingApprovals(run);
      const text = `Run ${inlineCode(run.id)} is waiting for approval${ids.length ? ` (${ids.map((id) => inlineCode(id)).join(', ')})` : ''}: the approvers were asked in the approval channel. I will answer here when it goes on.`;
      return { text, blocks: sections(text) };
    }
    case 'waiting': {
      const text = `Run ${inlineCode(run.id)} is waiting for long-running work (a training job or a canary rollout) to finish. I will answer here when it goes on.`;
      return { text, blocks: sections(text) };
    }
    default: {
      const text = `Run ${inlineCode(run.id)} ${run.status}: ${untrusted(run.error ?? 'no reason recorded', 2500)}`;
      return { text: truncateEscaped(text, 300), blocks: sections(text) };
    }
  }
}

export function createSlackChatReplies(options: {
  client: WebClient;
  tasks: BackgroundTasks;
  logger: Logger;
}): SlackChatReplies {
  const { client, tasks } = options;
  // Posts to one thread go out in order: "On it" must not land after a quick answer.
  const threads = new Map<string, Promise<unknown>>();
  const post = (thread: SlackThread, what: string, message: { text: string; blocks?: KnownBlock[] }) => {
    const key = `${thread.channel}:${thread.threadTs}`;
    const previous = threads.get(key) ?? Promise.resolve();
    const next = previous
      .catch(() => undefined)
      .then(() =>
        slackCall(what, () =>
          client.chat.postMessage({
            channel: thread.channel,
            thread_ts: thread.threadTs,
            text: message.text,
            ...(message.blocks ? { blocks: message.blocks } : {}),
            ...QUIET,
          }),
        ),
      );
    threads.set(key, next);
    tasks.run(what, async () => {
      try {
        await next;
      } finally {
        if (threads.get(key) === next) threads.delete(key);
      }
    });
  };

  return {
    started(thread, runId) {
      post(thread, 'saying a Slack chat run started', { text: `On it: run ${inlineCode(runId)}.` });
    },
    refused(thread, message) {
      tasks.run('telling a Slack user why their question was not taken', async () => {
        await slackCall('telling a Slack user why their question was not taken', () =>
          client.chat.postEphemeral({
            channel: thread.channel,
            user: thread.user,
            thread_ts: thread.threadTs,
            text: escapeMrkdwn(message),
            parse: 'none',
            link_names: false,
          }),
        );
      });
    },
    settled(run) {
      const thread = slackThreadOf(run.trigger);
      if (!thread) return;
      post(thread, `posting the outcome of run ${run.id} in its Slack thread`, replyFor(run));
    },
  };
}
