// The Slack channel of approvals (and chat in Slack): messages with Approve / Deny, the
// signed interactions and events that come back, and answers posted in threads.
export {
  approvalMessage,
  buttonValue,
  parseButtonValue,
  DENY_ACTION,
  GRANT_ACTION,
  type ApprovalContext,
} from './approval-message.js';
export { createBackgroundTasks, type BackgroundTasks } from './background-tasks.js';
export { sections } from './chat-replies.js';
export {
  MAX_QUESTION,
  MAX_SLACK_TEXT,
  plainFromSlack,
  readSlackEvent,
  slackChatTrigger,
  slackThreadOf,
  type SlackEventRead,
  type SlackThread,
} from './chat-events.js';
export { DENY_CALLBACK_ID, denyModal, readDenySubmission, REASON_ACTION, REASON_BLOCK } from './deny-modal.js';
export { readInteraction, type Interaction } from './interaction-payload.js';
export { codeBlock, escapeMrkdwn, inlineCode, untrusted } from './mrkdwn.js';
export {
  MAX_SKEW_SECONDS,
  signSlackRequest,
  verifySlackSignature,
  type SignatureCheck,
  type SignatureRefusal,
  type SignedRequest,
} from './signature.js';
export {
  createSlackChannel,
  type EnqueueChat,
  type SlackChannel,
  type SlackChannelOptions,
  type SlackRuntimeParts,
} from './slack-channel.js';
export { EVENT_MEMORY_MS, REPLAY_MEMORY_MS, type SlackAck } from './slack-interactions.js';
export { createSlackNotifier, readNotice, SLACK_NOTIFIER_NAME, type SlackNotice } from './slack-notifier.js';
export {
  createSlackWebClient,
  DEFAULT_RETRY,
  slackCall,
  type SlackClientOptions,
  type SlackConfig,
} from './web-client.js';
