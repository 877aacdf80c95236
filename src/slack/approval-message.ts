// The Block Kit message about one approval: what the agent wants to do and why, the
// arguments, the risk figures, what it would change, the policy rule, the votes so far
// and what is still needed, then Approve / Deny; once decided, who decided, when, the
// outcome and the call's result. Every piece of text from outside (model, alerts,
// arguments, comments, tool summaries) goes through mrkdwn.ts.
import type { ActionsBlock, KnownBlock, MrkdwnElement, SectionBlock } from '@slack/web-api';
import type { Approval, ApprovalVote } from '../approvals/approval.js';
import { stillNeeded } from '../approvals/still-needed.js';
import { codeBlock, escapeMrkdwn, inlineCode, plainText, slackDate, truncateEscaped, untrusted } from './mrkdwn.js';

export const GRANT_ACTION = 'approval.grant';
export const DENY_ACTION = 'approval.deny';

/** Why the call was proposed, from the run that proposed it (none for a direct MCP call). */
export interface ApprovalContext {
  trigger: { kind: string; text: string } | null;
  /** What the planner said in the turn that proposed the call. */
  reasoning: string | null;
}

const APPROVAL_ID = /^apr_[a-z0-9]{1,16}_[0-9a-f]{8}$/;
const ARGS_HASH = /^[0-9a-f]{64}$/;

/** A button carries only which approval and which arguments the clicker was shown, never state. */
export function buttonValue(approval: Pick<Approval, 'id' | 'argsHash'>): string {
  return `${approval.id}:${approval.argsHash}`;
}

export function parseButtonValue(value: string): { approvalId: string; argsHash: string } | null {
  const [approvalId, argsHash, extra] = value.split(':');
  if (extra !== undefined || !approvalId || !argsHash || !APPROVAL_ID.test(approvalId) || !ARGS_HASH.test(argsHash))
    return null;
  return { approvalId, argsHash };
}

/** mrkdwn that Slack shows as written: no auto-linked URLs or auto-parsed names. */
const md = (text: string): MrkdwnElement => ({ type: 'mrkdwn', text, verbatim: true });
const section = (text: string): SectionBlock => ({ type: 'section', text: md(text) });

const HEADLINE: Record<Approval['status'], string> = {
  pending: '⏳ Approval needed',
  granted: '✅ Approved',
  denied: '⛔ Denied',
  expired: '⌛ Expired',
};

function pct(n: number): string {
  return `${Number.isInteger(n) ? n : n.toFixed(1)}%`;
}

function riskFields(approval: Approval): MrkdwnElement[] {
  const r = approval.risk;
  const sign = (n: number, digits: number) => `${n >= 0 ? '+' : ''}${n.toFixed(digits)}`;
  return [
    md(`*Environment*\n${escapeMrkdwn(String(r.environment))}`),
    md(`*Traffic to the new version*\n${pct(r.trafficPercent)} (${sign(r.trafficChangePercent, 1)} pts)`),
    md(`*Promotes to 100%*\n${r.promotesToFull ? 'yes' : 'no'}`),
    md(`*Quality Δ (AUC vs serving)*\n${sign(r.qualityDelta, 4)}`),
    md(
      `*Failed quality gates*\n${r.failedQualityGates.length ? untrusted(r.failedQualityGates.join(', '), 500) : 'none'}`,
    ),
    md(`*Reversible by rollback*\n${r.reversible ? 'yes' : 'no'}`),
  ];
}

function voteLine(v: ApprovalVote): string {
  const what = v.verdict === 'grant' ? '✅ approved' : '⛔ denied';
  const roles = v.roles.length ? ` (${untrusted(v.roles.join(', '), 200)})` : '';
  const comment = v.comment ? `: ${untrusted(v.comment, 600)}` : '';
  return `• ${what} by ${inlineCode(v.by)}${roles} via ${v.via}, ${slackDate(v.at)}${comment}`;
}

function whatAndWhy(approval: Approval, context: ApprovalContext | null): string {
  const onBehalf = approval.requestedBy.requester
    ? ` for ${inlineCode(approval.requestedBy.requester)} (who triggered the run; they cannot approve it)`
    : '';
  const lines = [
    `*${escapeMrkdwn(approval.tool)}*, requested by ${inlineCode(approval.requestedBy.id)}${onBehalf}${approval.runId ? ` in run ${inlineCode(approval.runId)}` : ' (a direct call)'}`,
  ];
  if (context?.trigger)
    lines.push(
      `*Why the run started* (${escapeMrkdwn(context.trigger.kind)}): ${untrusted(context.trigger.text, 900)}`,
    );
  if (context?.reasoning) lines.push(`*What the agent said*: ${untrusted(context.reasoning, 1200)}`);
  return lines.join('\n');
}

function policyText(approval: Approval): string {
  const { roles, count, eachRole } = approval.required;
  const rule = approval.rule.id ? inlineCode(approval.rule.id) : '(no rule id)';
  return [
    `*Policy* rule ${rule} in ${inlineCode(approval.rule.policy)}: ${untrusted(approval.rule.reason, 800)}`,
    `*Needs* ${count} approval(s) from [${untrusted(roles.join(', '), 300)}]${eachRole ? ', at least one of each role' : ''}; the requester cannot approve`,
    `*Expires* ${slackDate(approval.expiresAt)}`,
  ].join('\n');
}

function decisionText(approval: Approval): string {
  const when = approval.resolvedAt ? ` ${slackDate(approval.resolvedAt)}` : '';
  const why = approval.resolution ? `: ${untrusted(approval.resolution, 1200)}` : '';
  return `*${approval.status === 'granted' ? 'Approved' : approval.status === 'denied' ? 'Denied' : 'Expired'}*${when}${why}`;
}

function actions(approval: Approval): ActionsBlock {
  const value = buttonValue(approval);
  return {
    type: 'actions',
    block_id: 'approval.actions',
    elements: [
      {
        type: 'button',
        action_id: GRANT_ACTION,
        style: 'primary',
        text: { type: 'plain_text', text: 'Approve' },
        value,
        confirm: {
          title: { type: 'plain_text', text: 'Approve this call?' },
          text: md(
            `Your approval counts toward running *${escapeMrkdwn(approval.tool)}* with exactly the arguments shown.`,
          ),
          confirm: { type: 'plain_text', text: 'Approve' },
          deny: { type: 'plain_text', text: 'Cancel' },
        },
      },
      { type: 'button', action_id: DENY_ACTION, style: 'danger', text: { type: 'plain_text', text: 'Deny…' }, value },
    ],
  };
}

/** The message for an approval in its current state (posted first, then updated in place). */
export function approvalMessage(
  approval: Approval,
  context: ApprovalContext | null,
): { text: string; blocks: KnownBlock[] } {
  const blocks: KnownBlock[] = [
    {
      type: 'header',
      text: { type: 'plain_text', text: plainText(`${HEADLINE[approval.status]}: ${approval.tool}`, 150) },
    },
    section(whatAndWhy(approval, context)),
  ];
  if (approval.preview)
    blocks.push(
      section(
        `*What it would change*\n*Now:* ${untrusted(approval.preview.now, 1300)}\n*After:* ${untrusted(approval.preview.after, 1300)}`,
      ),
    );
  blocks.push({ type: 'section', text: md('*Risk*'), fields: riskFields(approval) });
  blocks.push(section(`*Arguments*\n${codeBlock(JSON.stringify(approval.args, null, 2), 2900)}`));
  blocks.push(section(policyText(approval)));
  if (approval.votes.length > 0)
    blocks.push(section(truncateEscaped(`*Votes*\n${approval.votes.map(voteLine).join('\n')}`, 3000)));
  if (approval.status === 'pending') {
    blocks.push(section(`*Still needed:* ${escapeMrkdwn(stillNeeded(approval))}`));
    blocks.push(actions(approval));
  } else {
    blocks.push(section(decisionText(approval)));
  }
  if (approval.outcome) {
    blocks.push(
      section(
        `*Result* (${escapeMrkdwn(approval.outcome.status)}) ${slackDate(approval.outcome.at)}: ${untrusted(approval.outcome.summary, 1500)}`,
      ),
    );
  } else if (approval.consumedAt) {
    blocks.push(section(`*Running* since ${slackDate(approval.consumedAt)}`));
  }
  blocks.push({
    type: 'context',
    elements: [
      md(
        `Approval ${inlineCode(approval.id)} · arguments sha256 ${inlineCode(approval.argsHash.slice(0, 16))}… · also decidable over HTTP or with \`mlops-agent approvals\``,
      ),
    ],
  });
  const text =
    approval.status === 'pending'
      ? `Approval needed: ${escapeMrkdwn(approval.tool)} requested by ${escapeMrkdwn(approval.requestedBy.id)}${approval.requestedBy.requester ? ` for ${escapeMrkdwn(approval.requestedBy.requester)}` : ''} (${approval.id})`
      : `${approval.id} ${approval.status}: ${untrusted(approval.resolution ?? '', 300)}`;
  return { text, blocks };
}
