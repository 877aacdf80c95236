import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { signSlackRequest, verifySlackSignature } from '../../../src/slack/index.js';

const SECRET = '8f742231b10e8888abcd99yyyzzz85a5';
const NOW = Date.parse('2026-03-01T12:00:00Z');
const ts = (offsetSeconds = 0) => String(Math.floor(NOW / 1000) + offsetSeconds);
const body = Buffer.from('payload=%7B%22type%22%3A%22block_actions%22%7D');
const check = (headers: { signature?: string | string[]; timestamp?: string | string[] }, raw = body) =>
  verifySlackSignature(SECRET, { signature: headers.signature, timestamp: headers.timestamp, rawBody: raw }, NOW);

describe('Slack request signatures (v0, HMAC-SHA256 over the raw body)', () => {
  it('accepts a request signed as Slack signs it', () => {
    const t = ts();
    const expected = `v0=${createHmac('sha256', SECRET).update(`v0:${t}:${body.toString()}`).digest('hex')}`;
    expect(signSlackRequest(SECRET, t, body)).toBe(expected);
    expect(check({ signature: expected, timestamp: t })).toEqual({ ok: true });
  });

  it("matches Slack's documented example", () => {
    // https://docs.slack.dev/authentication/verifying-requests-from-slack
    const docBody =
      'token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c';
    const result = verifySlackSignature(
      '8f742231b10e8888abcd99yyyzzz85a5',
      {
        signature: 'v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503',
        timestamp: '1531420618',
        rawBody: Buffer.from(docBody),
      },
      1531420618 * 1000,
    );
    expect(result).toEqual({ ok: true });
  });

  it('refuses a signature made with another secret, or over another body', () => {
    const t = ts();
    expect(
      check({ signature: signSlackRequest('another-secret-0000000000000000', t, body), timestamp: t }),
    ).toMatchObject({ ok: false, code: 'forged' });
    expect(
      check({ signature: signSlackRequest(SECRET, t, body), timestamp: t }, Buffer.from(`${body.toString()}x`)),
    ).toMatchObject({ ok: false, code: 'forged' });
  });

  it('signs the raw bytes: a body that differs only in bytes that are not UTF-8 does not verify', () => {
    const t = ts();
    const a = Buffer.from([0x70, 0x3d, 0xff]);
    const b = Buffer.from([0x70, 0x3d, 0xfe]);
    // Both decode to "p=\uFFFD"; Slack's own verifier (rawBody.toString()) would accept either signature for both.
    expect(a.toString()).toBe(b.toString());
    expect(check({ signature: signSlackRequest(SECRET, t, a), timestamp: t }, b)).toMatchObject({
      ok: false,
      code: 'forged',
    });
  });

  it('refuses timestamps more than five minutes old, and more than five minutes ahead', () => {
    const at = (offset: number) =>
      check({ signature: signSlackRequest(SECRET, ts(offset), body), timestamp: ts(offset) });
    expect(at(-300)).toEqual({ ok: true });
    expect(at(300)).toEqual({ ok: true });
    expect(at(-301)).toMatchObject({ ok: false, code: 'stale' });
    expect(at(301)).toMatchObject({ ok: false, code: 'future' });
    expect(at(86_400 * 365)).toMatchObject({ ok: false, code: 'future' });
  });

  it('refuses missing, repeated and malformed headers without throwing', () => {
    const t = ts();
    const good = signSlackRequest(SECRET, t, body);
    const cases: { signature?: string | string[]; timestamp?: string | string[] }[] = [
      {},
      { signature: good },
      { timestamp: t },
      { signature: [good, good], timestamp: t },
      { signature: good, timestamp: [t, t] },
      { signature: `${good}, ${good}`, timestamp: t },
      { signature: good.replace('v0=', 'v1='), timestamp: t },
      { signature: good.slice(0, -1), timestamp: t },
      { signature: `${good}=trailing`, timestamp: t },
      { signature: `v0=${'z'.repeat(64)}`, timestamp: t },
      { signature: '', timestamp: t },
      { signature: good, timestamp: '' },
      { signature: good, timestamp: ` ${t}` },
      { signature: good, timestamp: `${t}.0` },
      { signature: good, timestamp: '1.7e9' },
      { signature: good, timestamp: `0x${Number(t).toString(16)}` },
      { signature: good, timestamp: 'Infinity' },
      { signature: good, timestamp: '-1' },
    ];
    for (const headers of cases)
      expect(check(headers), JSON.stringify(headers)).toMatchObject({ ok: false, code: 'malformed' });
  });

  it('signs the timestamp exactly as sent: a signature for the decimal form does not carry over to another spelling', () => {
    const t = ts();
    const forDecimal = signSlackRequest(SECRET, t, body);
    expect(check({ signature: forDecimal, timestamp: `0${t}` })).toMatchObject({ ok: false });
  });

  it('refuses everything when no signing secret is configured', () => {
    const t = ts();
    expect(
      verifySlackSignature('', { signature: signSlackRequest('', t, body), timestamp: t, rawBody: body }, NOW),
    ).toMatchObject({ ok: false });
  });
});
