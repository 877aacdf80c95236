// One Redis command for a store, with its failure named: a UserError (a bad id) passes as
// it is, anything else is a retryable UpstreamError saying what was being done.
import { describeError, UpstreamError, UserError } from './errors.js';

export async function redisCommand<T>(action: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof UserError) throw err;
    throw new UpstreamError('redis', `${action} failed: ${describeError(err)}`, { retryable: true, cause: err });
  }
}
