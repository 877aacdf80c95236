// The MCP SDK checks a request's params against the method's schema inside the handler it
// registered, and reports a mismatch (prompts/get with params of the wrong shape, say) as
// an internal error, as if the server had failed. A malformed request is the client's
// fault: this guard sits between the transport and the server and answers it
// InvalidParams, naming the method, before the server sees it.
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { ClientRequestSchema, ErrorCode, isJSONRPCRequest } from '@modelcontextprotocol/sdk/types.js';

/** Every request method a client may send, with its schema, from the SDK's own. */
const BY_METHOD = new Map(ClientRequestSchema.options.map((o) => [o.shape.method.value as string, o]));

/** Call after `server.connect(transport)`: wraps the message handler the server installed. */
export function guardRequests(transport: Transport): void {
  const deliver = transport.onmessage;
  if (!deliver) throw new Error('guardRequests: connect the server to the transport first');
  transport.onmessage = (message, extra) => {
    const schema = isJSONRPCRequest(message) ? BY_METHOD.get(message.method) : undefined;
    if (isJSONRPCRequest(message) && schema) {
      const checked = schema.safeParse({
        method: message.method,
        ...(message.params === undefined ? {} : { params: message.params }),
      });
      if (!checked.success) {
        const where = checked.error.issues
          .slice(0, 3)
          .map((i) => `${i.path.join('.') || '(params)'}: ${i.message}`)
          .join('; ');
        void transport
          .send(
            {
              jsonrpc: '2.0',
              id: message.id,
              error: { code: ErrorCode.InvalidParams, message: `invalid params for ${message.method}: ${where}` },
            },
            { relatedRequestId: message.id },
          )
          .catch(() => undefined);
        return;
      }
    }
    deliver(message, extra);
  };
}
