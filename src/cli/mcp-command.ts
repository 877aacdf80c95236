// `mlops-agent mcp`: the agent's tools, behind the gate, for an MCP client over stdio.
// stdout carries the protocol and nothing else; logs go to stderr (see logger.ts).
import { Command } from 'commander';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { allTools } from '../../tools/index.js';
import { buildMcp } from '../app/app.js';
import type { Config } from '../app/config.js';
import type { Logger } from '../logger.js';
import { guardRequests } from '../mcp/index.js';

export function mcpCommand(deps: { config: () => Config; logger: () => Logger }): Command {
  return new Command('mcp')
    .description(
      "serve the agent's tools to an MCP client (Claude Desktop, an IDE) over stdio; every call goes through the policy gate and the audit log",
    )
    .addHelpText(
      'after',
      `
The client starts this command itself. For example, in a client's MCP servers config:
  { "command": "npx", "args": ["mlops-agent", "mcp"], "env": { "MLOPS_AGENT_HOME": "/var/lib/mlops-agent" } }
Calls act as principal mcp:<the client's name>. A call that needs approval is not executed:
it returns an approval id. People decide it through a \`serve\` that shares the approvals
(the same REDIS_URL, or the same data directory with its own audit.file): over HTTP, with
\`mlops-agent approvals approve ID\`, or in Slack. Once approved it executes exactly once and
the approval_status tool reports how it ended.`,
    )
    .action(async () => {
      const config = deps.config();
      const logger = deps.logger();
      const app = await buildMcp(config, logger);
      let closing: Promise<void> | null = null;
      const shutdown = (why: string) =>
        (closing ??= (async () => {
          logger.info({ why }, 'mcp server stopping');
          await app.close();
        })());

      const done = new Promise<void>((resolve) => {
        // The client ends the session by closing our stdin; signals end it too.
        process.stdin.once('end', () => void shutdown('stdin closed').then(resolve));
        for (const signal of ['SIGTERM', 'SIGINT'] as const)
          process.once(signal, () => void shutdown(signal).then(resolve));
      });
      const transport = new StdioServerTransport();
      await app.server.connect(transport);
      guardRequests(transport);
      logger.info({ tools: allTools.length, runbooks: app.runtime.runbooks.length }, 'mcp server ready on stdio');
      await done;
    });
}
