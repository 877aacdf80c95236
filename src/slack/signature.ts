// Checks that a request really comes from Slack: X-Slack-Signature is `v0=` + the hex
// HMAC-SHA256, keyed with the app's signing secret, of `v0:<timestamp>:<raw body>`.
//
// Slack's own verifier (bolt-js `verifySlackRequest`, src/receivers/verify-request.ts) is
// looser than we need, so this one is written out:
// - it rejects only timestamps more than five minutes in the PAST; one in the future (or
//   `Infinity`) passes. We refuse either side of the window, by our injected Clock;
// - it reads the timestamp with `Number()`, so `" 1.7e9"`, `"0x…"` or `"1700000000.0"`
//   pass and the HMAC is computed over the re-printed number, not the header as sent.
//   We accept only a plain decimal integer and sign exactly the header's text;
// - it splits the signature on `=` and ignores anything after a second `=`, and never
//   checks the hash's form. We require exactly `v0=` and 64 hex digits;
// - it HMACs `rawBody.toString()`, so bytes that are not UTF-8 are replaced before
//   signing and two different bodies can share a signature. We HMAC the raw bytes;
// - its HTTP receiver skips verification for any form body with `ssl_check=1`. We have
//   no slash commands and verify every request;
// - it has no memory of requests, so a captured request can be replayed for five
//   minutes. Replays are refused by the routes (a one-time key per action, server-side).
// The digest comparison is timingSafeEqual over two 32-byte buffers.
import { createHmac, timingSafeEqual } from 'node:crypto';

/** How far a request's timestamp may be from our clock, either way (Slack's five minutes). */
export const MAX_SKEW_SECONDS = 5 * 60;

export type SignatureRefusal = 'malformed' | 'stale' | 'future' | 'forged';

export type SignatureCheck = { ok: true } | { ok: false; code: SignatureRefusal; message: string };

export interface SignedRequest {
  /** The X-Slack-Signature header as received (Node joins a repeated header with ", "). */
  signature: string | string[] | undefined;
  /** The X-Slack-Request-Timestamp header as received. */
  timestamp: string | string[] | undefined;
  /** The body exactly as it arrived. */
  rawBody: Buffer;
}

const TIMESTAMP = /^[1-9][0-9]{0,11}$/;
const SIGNATURE = /^v0=([0-9a-fA-F]{64})$/;

export function signSlackRequest(signingSecret: string, timestamp: string, rawBody: Buffer | string): string {
  const hmac = createHmac('sha256', signingSecret);
  hmac.update(`v0:${timestamp}:`);
  hmac.update(rawBody);
  return `v0=${hmac.digest('hex')}`;
}

export function verifySlackSignature(signingSecret: string, request: SignedRequest, nowMs: number): SignatureCheck {
  if (!signingSecret) return { ok: false, code: 'malformed', message: 'no signing secret is configured' };
  const { signature, timestamp } = request;
  if (typeof timestamp !== 'string' || typeof signature !== 'string') {
    const missing = [
      typeof timestamp !== 'string' ? 'X-Slack-Request-Timestamp' : null,
      typeof signature !== 'string' ? 'X-Slack-Signature' : null,
    ].filter(Boolean);
    return { ok: false, code: 'malformed', message: `missing or repeated header(s): ${missing.join(', ')}` };
  }
  if (!TIMESTAMP.test(timestamp))
    return { ok: false, code: 'malformed', message: 'X-Slack-Request-Timestamp is not a Unix time in whole seconds' };
  const match = SIGNATURE.exec(signature);
  if (!match)
    return { ok: false, code: 'malformed', message: 'X-Slack-Signature is not v0= followed by 64 hex digits' };

  const skew = Number(timestamp) - Math.floor(nowMs / 1000);
  if (skew < -MAX_SKEW_SECONDS)
    return {
      ok: false,
      code: 'stale',
      message: `the request is ${-skew} s old; at most ${MAX_SKEW_SECONDS} s is accepted`,
    };
  if (skew > MAX_SKEW_SECONDS)
    return {
      ok: false,
      code: 'future',
      message: `the request is dated ${skew} s in the future; at most ${MAX_SKEW_SECONDS} s of clock skew is accepted`,
    };

  const expected = createHmac('sha256', signingSecret).update(`v0:${timestamp}:`).update(request.rawBody).digest();
  const given = Buffer.from(match[1]!, 'hex');
  // Both are 32 bytes by construction (the regex fixed the length), as timingSafeEqual needs.
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    return { ok: false, code: 'forged', message: 'the signature does not match the body and timestamp' };
  }
  return { ok: true };
}
