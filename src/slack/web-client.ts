// The Slack Web API client (Slack's own @slack/web-api WebClient), set up for a server
// that must never hang on Slack, and Slack's errors mapped to ours.
import {
  LogLevel,
  WebAPIHTTPError,
  WebAPIPlatformError,
  WebAPIRateLimitedError,
  WebAPIRequestError,
  WebClient,
  type Logger as SlackLogger,
  type RetryOptions,
} from '@slack/web-api';
import { UpstreamError } from '../errors.js';
import type { Logger } from '../logger.js';

/** A complete Slack set-up, as the app's config holds it when all of it is there. */
export interface SlackConfig {
  botToken: string;
  signingSecret: string;
  approvalChannel: string;
  apiUrl?: string;
  users: Record<string, string>;
}

export interface SlackClientOptions {
  /**
   * The SDK's default is ten retries over about thirty minutes, for network errors and
   * any non-200 answer (`ok: false` answers are never retried). A notice thirty minutes
   * late is no use to an approver, so the default here is three tries within ~7 s;
   * tests pass `{ retries: 0 }`.
   */
  retryConfig?: RetryOptions;
  /**
   * Per request; the SDK's default is none at all. The gate waits for the approval
   * message to be posted before the run parks, so a hung Slack must not hold it long.
   */
  timeoutMs?: number;
}

export const DEFAULT_RETRY: RetryOptions = {
  retries: 2,
  factor: 2,
  minTimeout: 1000,
  maxTimeout: 5000,
  randomize: true,
};

/** The SDK logs through ours (pino on stderr) rather than console, which would write to stdout. */
function sdkLogger(logger: Logger): SlackLogger {
  const child = logger.child({ component: 'slack-web-api' });
  let level = LogLevel.INFO;
  return {
    debug: (...msg) => child.debug(msg.map(String).join(' ')),
    info: (...msg) => child.info(msg.map(String).join(' ')),
    warn: (...msg) => child.warn(msg.map(String).join(' ')),
    error: (...msg) => child.error(msg.map(String).join(' ')),
    setLevel: (l) => (level = l),
    getLevel: () => level,
    setName: () => undefined,
  };
}

export function createSlackWebClient(
  slack: Pick<SlackConfig, 'botToken' | 'apiUrl'>,
  logger: Logger,
  options: SlackClientOptions = {},
): WebClient {
  return new WebClient(slack.botToken, {
    // The SDK appends the method name to this (adding a missing trailing slash).
    ...(slack.apiUrl ? { slackApiUrl: slack.apiUrl } : {}),
    retryConfig: options.retryConfig ?? DEFAULT_RETRY,
    timeout: options.timeoutMs ?? 5000,
    // Methods are our constants; never let one be an absolute URL that carries the token elsewhere.
    allowAbsoluteUrls: false,
    logger: sdkLogger(logger),
  });
}

// Slack's error codes that no retry can fix: the configuration or the request is wrong.
const PERMANENT = new Set([
  'invalid_auth',
  'not_authed',
  'account_inactive',
  'token_revoked',
  'missing_scope',
  'channel_not_found',
  'not_in_channel',
  'is_archived',
  'invalid_blocks',
  'invalid_arguments',
  'msg_too_long',
  'message_not_found',
  'cant_update_message',
  'user_not_in_channel',
  'expired_trigger_id',
  'invalid_trigger_id',
]);

/** One Web API call, its failure an UpstreamError that says what Slack answered and whether retrying helps. */
export async function slackCall<T>(what: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (err instanceof WebAPIPlatformError) {
      const code = err.data.error;
      const hint =
        code === 'not_in_channel'
          ? ' (invite the app to the channel: /invite @the-app)'
          : code === 'missing_scope'
            ? ` (the app needs scope ${String((err.data as { needed?: unknown }).needed ?? '?')})`
            : '';
      throw new UpstreamError('slack', `${what}: Slack answered ${code}${hint}`, {
        retryable: !PERMANENT.has(code),
        cause: err,
      });
    }
    if (err instanceof WebAPIRateLimitedError)
      throw new UpstreamError('slack', `${what}: rate limited for ${err.retryAfter} s`, {
        retryable: true,
        cause: err,
      });
    if (err instanceof WebAPIHTTPError)
      throw new UpstreamError('slack', `${what}: HTTP ${err.statusCode}`, {
        retryable: err.statusCode >= 500,
        cause: err,
      });
    if (err instanceof WebAPIRequestError)
      throw new UpstreamError('slack', `${what}: ${err.original.message}`, { retryable: true, cause: err });
    throw new UpstreamError('slack', `${what}: ${err instanceof Error ? err.message : String(err)}`, {
      retryable: true,
      cause: err,
    });
  }
}
