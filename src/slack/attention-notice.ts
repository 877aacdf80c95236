// A run that ended needing a person (a runbook stopped on broken data, an alert no runbook
// answers and no LLM can plan) is said in the approval channel, where the people are.
import type { KnownBlock } from '@slack/web-api';
import type { Run } from '../agent/run.js';
import { inlineCode, untrusted } from './mrkdwn.js';

export function attentionMessage(run: Run): { text: string; blocks: KnownBlock[] } {
  const headline = `:warning: Run ${inlineCode(run.id)} needs attention: ${untrusted(run.trigger.text, 300)}`;
  const why = untrusted(run.answer ?? run.error ?? 'no reason recorded', 2500);
  const did = run.summary ? untrusted(run.summary.text, 1000) : null;
  const blocks: KnownBlock[] = [
    { type: 'section', text: { type: 'mrkdwn', text: headline, verbatim: true } },
    { type: 'section', text: { type: 'mrkdwn', text: why, verbatim: true } },
    ...(did
      ? [
          {
            type: 'context' as const,
            elements: [{ type: 'mrkdwn' as const, text: `What the run did: ${did}`, verbatim: true }],
          },
        ]
      : []),
  ];
  return { text: `Run ${run.id} needs attention: ${untrusted(run.trigger.text, 200)}`, blocks };
}
