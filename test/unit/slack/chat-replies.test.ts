import { describe, expect, it } from 'vitest';
import { escapeMrkdwn, sections } from '../../../src/slack/index.js';

const texts = (blocks: unknown[]) => blocks.map((b) => (b as { text: { text: string } }).text.text);

describe('a long answer in Slack sections', () => {
  it('splits at line ends into sections of at most 3000 characters, losing nothing', () => {
    const answer = escapeMrkdwn(Array.from({ length: 200 }, (_, i) => `line ${i}: AUC 0.87 & p99 < 50 ms`).join('\n'));
    const parts = texts(sections(answer));
    expect(parts.length).toBeGreaterThan(1);
    for (const p of parts) expect(p.length).toBeLessThanOrEqual(3000);
    expect(parts.join('')).toBe(answer);
    for (const p of parts.slice(0, -1)) expect(p.endsWith('\n')).toBe(true);
  });

  it('never splits an entity between two sections', () => {
    const answer = escapeMrkdwn('<'.repeat(2000));
    const parts = texts(sections(answer));
    expect(parts.join('')).toBe(answer);
    for (const p of parts) expect(p).toMatch(/^(&lt;)+$/);
  });

  it('cuts an answer too long for one message, and says so', () => {
    const parts = texts(sections('x'.repeat(100_000)));
    expect(parts).toHaveLength(10);
    expect(parts.at(-1)).toMatch(/…\(truncated\)$/);
  });
});
