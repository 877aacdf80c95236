// What a (signature-checked) interaction payload asks for: a vote by button, a Deny click
// that needs the reason form, or the submitted form. Slack posts these as a form with one
// field, `payload`, holding JSON. Everything else Slack may send is ignored.
import { z } from 'zod';
import { DENY_ACTION, GRANT_ACTION, parseButtonValue } from './approval-message.js';
import { readDenySubmission } from './deny-modal.js';

const user = z.object({ id: z.string().min(1) }).passthrough();

const blockActions = z
  .object({
    type: z.literal('block_actions'),
    user,
    trigger_id: z.string().optional(),
    channel: z.object({ id: z.string() }).passthrough().optional(),
    container: z
      .object({ channel_id: z.string().optional(), message_ts: z.string().optional() })
      .passthrough()
      .optional(),
    actions: z
      .array(
        z
          .object({ action_id: z.string(), value: z.string().optional(), action_ts: z.string().optional() })
          .passthrough(),
      )
      .min(1),
  })
  .passthrough();

const viewSubmission = z
  .object({
    type: z.literal('view_submission'),
    user,
    view: z
      .object({
        id: z.string().min(1),
        callback_id: z.string().optional(),
        private_metadata: z.string().optional(),
        state: z
          .object({ values: z.record(z.record(z.object({ value: z.string().nullable().optional() }).passthrough())) })
          .passthrough()
          .optional(),
      })
      .passthrough(),
  })
  .passthrough();

interface Base {
  slackUser: string;
  approvalId: string;
  argsHash: string;
  /** Remembered server-side: the same action is acted on once, whoever sends it again. */
  replayKey: string;
}

export type Interaction =
  | (Base & { kind: 'grant'; channel: string | null })
  | (Base & { kind: 'deny_click'; channel: string | null; triggerId: string })
  | (Base & { kind: 'deny_reason'; reason: string })
  | { kind: 'ignored'; why: string; slackUser: string | null };

/** `body` is the raw form body; throws nothing, a payload we cannot read is `ignored` with why. */
export function readInteraction(body: string): Interaction {
  const raw = new URLSearchParams(body).get('payload');
  if (raw === null) return { kind: 'ignored', why: 'the form has no payload field', slackUser: null };
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    return { kind: 'ignored', why: 'the payload is not JSON', slackUser: null };
  }
  const type = (json as { type?: unknown } | null)?.type;
  if (type === 'block_actions') {
    const parsed = blockActions.safeParse(json);
    if (!parsed.success)
      return {
        kind: 'ignored',
        why: `block_actions payload: ${parsed.error.issues[0]?.path.join('.')} ${parsed.error.issues[0]?.message}`,
        slackUser: null,
      };
    const p = parsed.data;
    // A message has one actions block of ours; Slack sends the clicked button only.
    const action = p.actions.find((a) => a.action_id === GRANT_ACTION || a.action_id === DENY_ACTION);
    if (!action)
      return {
        kind: 'ignored',
        why: `no approval button in actions [${p.actions.map((a) => a.action_id).join(', ')}]`,
        slackUser: p.user.id,
      };
    const target = parseButtonValue(action.value ?? '');
    if (!target) return { kind: 'ignored', why: 'the button value is not approval-id:args-hash', slackUser: p.user.id };
    const channel = p.channel?.id ?? p.container?.channel_id ?? null;
    const replayKey = `slack:action:${p.user.id}:${action.action_id}:${target.approvalId}:${action.action_ts ?? p.trigger_id ?? ''}`;
    const base = { slackUser: p.user.id, ...target, replayKey, channel };
    if (action.action_id === GRANT_ACTION) return { kind: 'grant', ...base };
    if (!p.trigger_id)
      return {
        kind: 'ignored',
        why: 'a Deny click without a trigger_id cannot open the reason form',
        slackUser: p.user.id,
      };
    return { kind: 'deny_click', ...base, triggerId: p.trigger_id };
  }
  if (type === 'view_submission') {
    const parsed = viewSubmission.safeParse(json);
    if (!parsed.success)
      return {
        kind: 'ignored',
        why: `view_submission payload: ${parsed.error.issues[0]?.path.join('.')} ${parsed.error.issues[0]?.message}`,
        slackUser: null,
      };
    const p = parsed.data;
    const submitted = readDenySubmission(p.view);
    if (!submitted)
      return {
        kind: 'ignored',
        why: `view ${p.view.callback_id ?? '(no callback_id)'} is not the deny form`,
        slackUser: p.user.id,
      };
    // A view is submitted once; its id is the action.
    return {
      kind: 'deny_reason',
      slackUser: p.user.id,
      approvalId: submitted.approvalId,
      argsHash: submitted.argsHash,
      reason: submitted.reason,
      replayKey: `slack:view:${p.view.id}`,
    };
  }
  return {
    kind: 'ignored',
    why: `interaction type ${typeof type === 'string' ? type : '(none)'} is not handled`,
    slackUser: null,
  };
}
