// Requests as Slack sends them to our endpoints: interaction payloads (a form with one
// `payload` field holding JSON) and Events API envelopes (JSON), signed with the app's
// signing secret (v0 HMAC-SHA256 over `v0:<timestamp>:<body>`), or deliberately not.
import { createHmac } from 'node:crypto';

export function slackSignature(secret: string, timestamp: string, body: string): string {
  return `v0=${createHmac('sha256', secret).update(`v0:${timestamp}:${body}`).digest('hex')}`;
}

export interface SlackRequest {
  headers: Record<string, string>;
  payload: string;
}

/** A request signed as Slack signs it, at `nowMs` (the test's clock). */
export function signed(
  secret: string,
  nowMs: number,
  body: string,
  contentType: string,
  extraHeaders: Record<string, string> = {},
): SlackRequest {
  const timestamp = String(Math.floor(nowMs / 1000));
  return {
    headers: {
      'content-type': contentType,
      'x-slack-request-timestamp': timestamp,
      'x-slack-signature': slackSignature(secret, timestamp, body),
      ...extraHeaders,
    },
    payload: body,
  };
}

export const formBody = (payload: unknown) => `payload=${encodeURIComponent(JSON.stringify(payload))}`;
export const FORM = 'application/x-www-form-urlencoded';
export const JSON_TYPE = 'application/json';

let actionCounter = 0;

/** A click on one of our buttons in the approval message. */
export function blockActions(options: {
  user: string;
  actionId: string;
  value: string;
  channel?: string;
  messageTs?: string;
  actionTs?: string;
  triggerId?: string;
}) {
  actionCounter += 1;
  return {
    type: 'block_actions',
    user: { id: options.user, username: options.user.toLowerCase(), team_id: 'T0TEAM' },
    api_app_id: 'A0APP',
    token: 'legacy-verification-token',
    container: {
      type: 'message',
      message_ts: options.messageTs ?? '1767225600.000100',
      channel_id: options.channel ?? 'C0APPROVALS',
      is_ephemeral: false,
    },
    trigger_id: options.triggerId ?? `13345224609.738474920.${actionCounter}abcdef`,
    team: { id: 'T0TEAM', domain: 'example' },
    channel: { id: options.channel ?? 'C0APPROVALS', name: 'approvals' },
    message: { type: 'message', ts: options.messageTs ?? '1767225600.000100', text: '…' },
    response_url: 'https://hooks.slack.com/actions/T0TEAM/1/abc',
    actions: [
      {
        action_id: options.actionId,
        block_id: 'approval.actions',
        value: options.value,
        type: 'button',
        action_ts: options.actionTs ?? `1767225600.${String(actionCounter).padStart(6, '0')}`,
      },
    ],
  };
}

/** The deny form submitted with a reason. */
export function viewSubmission(options: {
  user: string;
  viewId: string;
  privateMetadata: string;
  reason: string;
  callbackId?: string;
}) {
  return {
    type: 'view_submission',
    team: { id: 'T0TEAM', domain: 'example' },
    user: { id: options.user, username: options.user.toLowerCase(), team_id: 'T0TEAM' },
    api_app_id: 'A0APP',
    trigger_id: '13345224609.738474920.view',
    view: {
      id: options.viewId,
      type: 'modal',
      callback_id: options.callbackId ?? 'approval.deny',
      private_metadata: options.privateMetadata,
      hash: '156772938.1827394',
      state: { values: { reason: { reason: { type: 'plain_text_input', value: options.reason } } } },
    },
  };
}

/** An Events API envelope around one event. */
export function eventCallback(eventId: string, event: Record<string, unknown>) {
  return {
    token: 'legacy-verification-token',
    team_id: 'T0TEAM',
    api_app_id: 'A0APP',
    type: 'event_callback',
    event_id: eventId,
    event_time: 1767225600,
    authorizations: [{ team_id: 'T0TEAM', user_id: 'U0BOT', is_bot: true }],
    event: { event_ts: '1767225600.000200', ...event },
  };
}
