// Whether a failed run attempt is worth another try: faults of the person (UserError),
// the model, or an upstream that says retrying cannot help are final.
import { isAgentError, UpstreamError } from '../errors.js';

export function isRetryable(err: unknown): boolean {
  if (err instanceof UpstreamError) return err.retryable;
  if (isAgentError(err)) return false;
  return true;
}
