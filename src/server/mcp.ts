// /mcp: the MCP Streamable HTTP handler on Fastify. The handler reads the raw request
// itself (auth, Origin allow-list, body limit, sessions), so this scope parses nothing
// and hands Node's req/res over with reply.hijack().
import type { FastifyInstance } from 'fastify';
import type { McpHttpHandler } from '../mcp/index.js';

export async function registerMcp(app: FastifyInstance, handler: McpHttpHandler): Promise<void> {
  await app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    // Leave the body stream unread for the handler.
    scope.addContentTypeParser('*', (_request, _payload, done) => done(null, undefined));
    scope.all('/mcp', async (request, reply) => {
      reply.hijack();
      await handler(request.raw, reply.raw);
    });
  });
}
