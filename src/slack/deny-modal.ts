// The modal a Deny click opens (views.open): a denial ends the approval for everyone, so
// it asks for the reason the requester and the audit log will read.
import type { ModalView } from '@slack/web-api';
import type { Approval } from '../approvals/approval.js';
import { buttonValue, parseButtonValue } from './approval-message.js';
import { escapeMrkdwn, inlineCode, untrusted } from './mrkdwn.js';

export const DENY_CALLBACK_ID = 'approval.deny';
export const REASON_BLOCK = 'reason';
export const REASON_ACTION = 'reason';
export const REASON_MAX = 1000;

export function denyModal(approval: Approval): ModalView {
  return {
    type: 'modal',
    callback_id: DENY_CALLBACK_ID,
    // Like the buttons: which approval and which arguments, nothing else.
    private_metadata: buttonValue(approval),
    title: { type: 'plain_text', text: 'Deny approval' },
    submit: { type: 'plain_text', text: 'Deny' },
    close: { type: 'plain_text', text: 'Cancel' },
    blocks: [
      {
        type: 'section',
        text: {
          type: 'mrkdwn',
          verbatim: true,
          text: `Deny *${escapeMrkdwn(approval.tool)}* requested by ${inlineCode(approval.requestedBy.id)} (approval ${inlineCode(approval.id)})?\n${approval.preview ? `It would change ${untrusted(approval.preview.now, 600)} → ${untrusted(approval.preview.after, 600)}.\n` : ''}One denial ends the approval; nothing is executed.`,
        },
      },
      {
        type: 'input',
        block_id: REASON_BLOCK,
        label: { type: 'plain_text', text: 'Reason' },
        element: {
          type: 'plain_text_input',
          action_id: REASON_ACTION,
          multiline: true,
          min_length: 1,
          max_length: REASON_MAX,
        },
      },
    ],
  };
}

/** What the submitted modal says: the approval it is about and the reason typed; null if it is not our modal. */
export function readDenySubmission(view: {
  callback_id?: string;
  private_metadata?: string;
  state?: { values?: Record<string, Record<string, { value?: string | null }>> };
}): { approvalId: string; argsHash: string; reason: string } | null {
  if (view.callback_id !== DENY_CALLBACK_ID) return null;
  const target = parseButtonValue(view.private_metadata ?? '');
  if (!target) return null;
  const reason = view.state?.values?.[REASON_BLOCK]?.[REASON_ACTION]?.value?.trim() ?? '';
  return { ...target, reason: reason.slice(0, REASON_MAX) };
}
