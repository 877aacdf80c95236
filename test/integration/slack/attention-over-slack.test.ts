// A run that ends needing a person is said in the approval channel, over Slack's Web API
// (the real WebClient against a local fake Slack), through the real server and worker.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { messageText, slackFixture, TOKEN, type SlackFixture } from './slack-fixture.js';
import { eventually } from '../../support/eventually.js';

let f: SlackFixture;
beforeEach(async () => {
  f = await slackFixture();
});
afterEach(async () => f.close());

describe('a run that needs attention', () => {
  it('is posted to the approval channel with why, when an alert no runbook answers arrives and no LLM is configured', async () => {
    const response = await f.app.inject({
      method: 'POST',
      url: '/v1/alerts',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      payload: {
        name: 'DiskAlmostFull',
        labels: { model: 'credit-risk', environment: 'production' },
        summary: 'disk 97% full on <!channel> node-3',
      },
    });
    expect(response.statusCode).toBe(202);
    const { runId } = response.json() as { runId: string };
    const post = await eventually('the attention notice', () =>
      f.fake.callsTo('chat.postMessage').find((c) => String(c.params.text).includes('needs attention')),
    );
    expect(post.params.channel).toBe('#approvals');
    const text = messageText(post.params.blocks);
    expect(text).toContain(`Run \`${runId}\` needs attention`);
    expect(text).toContain('No runbook answers alert "DiskAlmostFull" and no LLM is configured');
    // Outside text stays text: the alert's summary cannot ping the channel.
    expect(text).not.toContain('<!channel>');
    expect(text).toContain('&lt;!channel&gt;');
    expect(await f.runtime.runs.get(runId)).toMatchObject({ status: 'needs_attention' });
  });

  it('is not posted for a run that succeeded', async () => {
    const response = await f.app.inject({
      method: 'POST',
      url: '/v1/alerts',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      payload: { name: 'ModelLatencyHigh', labels: { model: 'credit-risk', environment: 'production' } },
    });
    const { runId } = response.json() as { runId: string };
    const run = await eventually('the run to end', async () => {
      const r = await f.runtime.runs.get(runId);
      return r && r.endedAt ? r : undefined;
    });
    expect(run.status).toBe('succeeded');
    await f.slack.idle();
    expect(f.fake.callsTo('chat.postMessage').filter((c) => String(c.params.text).includes('needs attention'))).toEqual(
      [],
    );
  });
});
