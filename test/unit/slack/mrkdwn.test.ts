import { describe, expect, it } from 'vitest';
import { codeBlock, escapeMrkdwn, inlineCode, untrusted } from '../../../src/slack/index.js';

// Slack reads `<…>` as a control sequence (mention, broadcast, link, date); after escaping
// no `<` or `>` may be left, whatever the input.
const controls = /[<>]/;

describe('mrkdwn escaping of text from outside', () => {
  it('turns broadcasts, mentions and labelled links into visible text', () => {
    const annotation =
      'Drift! <!channel> ping <@U0ADMIN> and <!subteam^S0123|@oncall>, see <https://evil.example/login|click here> & <#C0GENERAL>';
    const escaped = escapeMrkdwn(annotation);
    expect(escaped).not.toMatch(controls);
    expect(escaped).toContain('&lt;!channel&gt;');
    expect(escaped).toContain('&lt;@U0ADMIN&gt;');
    expect(escaped).toContain('&lt;https://evil.example/login|click here&gt;');
    expect(escaped).toContain(' &amp; ');
  });

  it('escapes an ampersand first, so text that already looks escaped stays literal', () => {
    expect(escapeMrkdwn('&lt;!here&gt;')).toBe('&amp;lt;!here&amp;gt;');
  });

  it('defangs literal @channel, @here and @everyone words', () => {
    const escaped = escapeMrkdwn('wake @channel and @Here, @everyone');
    expect(escaped).not.toMatch(/@(channel|here|everyone)\b/i);
    expect(escaped.replace(/\u200D/g, '')).toBe('wake @channel and @Here, @everyone');
  });

  it('keeps a code block closed whatever backticks the text holds', () => {
    const block = codeBlock('{"model":"x```\n<!channel> *bold* ```"}');
    expect(block.startsWith('```')).toBe(true);
    expect(block.endsWith('```')).toBe(true);
    // Only the opening and closing fences remain.
    expect(block.match(/`/g)).toHaveLength(6);
    expect(block).not.toMatch(controls);
    expect(inlineCode('a`b<@U1>').match(/`/g)).toHaveLength(2);
  });

  it('cuts long text to the limit without leaving half an entity', () => {
    const cut = untrusted('<'.repeat(5000), 100);
    expect(cut.length).toBeLessThanOrEqual(100);
    expect(cut).toMatch(/(&lt;)+ …\(truncated\)$/);
    expect(cut).not.toMatch(/&l?t? …/);
  });
});
