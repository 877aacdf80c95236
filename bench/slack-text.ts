// Slack text cleanup on crafted messages: the regex chain this replaced (each pattern
// scanned to the end of the text from every unclosed `<`, quadratic in the length) against
// the one-pass reader in src/slack/chat-events.ts, on 40,000-character messages
// (Slack's own limit) of unclosed tokens, and on an ordinary question as a control.
// Prints the median time of each and the ratio. Run: npm run bench:slack
import { plainFromSlack, readSlackEvent } from '../src/slack/index.js';

/** The cleanup as it was before (kept here only as the baseline). */
function regexChain(text: string): string {
  return text
    .replace(/^\s*(<@[A-Z0-9]+(\|[^>]*)?>\s*)+/, '')
    .replace(/<@([A-Z0-9]+)(?:\|([^>]*))?>/g, (_m, id: string, name?: string) => `@${name ?? id}`)
    .replace(/<#([A-Z0-9]+)(?:\|([^>]*))?>/g, (_m, id: string, name?: string) => `#${name || id}`)
    .replace(/<!([a-z]+)(?:\^[^|>]*)?(?:\|([^>]*))?>/g, (_m, word: string, label?: string) => label ?? `@${word}`)
    .replace(/<([a-z][a-z0-9+.-]*:[^|>]*)\|([^>]*)>/gi, '$2 ($1)')
    .replace(/<([a-z][a-z0-9+.-]*:[^>]*)>/gi, '$1')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&')
    .trim();
}

/** The reader as the events route uses it: the leading mentions dropped, the cap, the cleanup. */
function onePass(text: string): string {
  const read = readSlackEvent({
    type: 'event_callback',
    event_id: 'Ev1',
    event: { type: 'app_mention', user: 'U1', text, ts: '1.1', channel: 'C1' },
  });
  return read.kind === 'chat' ? read.text : plainFromSlack(text);
}

const crafted = (unit: string) => unit.repeat(Math.ceil(40_000 / unit.length)).slice(0, 40_000);
const CASES: Record<string, string> = {
  'unclosed links <a:': crafted('<a:'),
  'unclosed mentions <@A|': crafted('<@A|'),
  'unclosed specials <!a^': crafted('<!a^'),
  'unclosed channels <#A|': crafted('<#A|'),
  // Closed tokens all the way: the most work the one-pass reader does per character.
  '10,000 closed mentions <@A>': crafted('<@A>'),
  'ordinary question (control)':
    '<@U0BOT> which version of <#C0ML|ml> credit-risk is champion? see <https://mlflow.example/runs/7|run 7> &amp; tell <@U0BOB|bob>',
};

function medianMs(fn: () => unknown, runs: number): number {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = process.hrtime.bigint();
    fn();
    times.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!;
}

console.log(
  `${'message'.padEnd(30)} ${'regex chain'.padStart(12)} ${'one pass'.padStart(10)}   regex chain / one pass`,
);
for (const [name, text] of Object.entries(CASES)) {
  const control = !name.startsWith('unclosed');
  // Warm up both, so neither pays for compilation.
  for (let i = 0; i < 3; i++) {
    regexChain(text);
    onePass(text);
  }
  const before = medianMs(() => regexChain(text), control ? 2000 : 5);
  const after = medianMs(() => onePass(text), control ? 2000 : 50);
  console.log(
    `${name.padEnd(30)} ${`${before.toFixed(3)} ms`.padStart(12)} ${`${after.toFixed(3)} ms`.padStart(10)}   ${(before / after).toFixed(1)}`,
  );
}
