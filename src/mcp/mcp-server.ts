// The MCP server: every tool from tools/, listed from its own zod definition and called
// only through the gate; runs, the registry and the audit log as resources; runbooks as
// prompts. One server per client connection (the SDK binds a server to one transport).
import { randomUUID } from 'node:crypto';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { ListToolsRequestSchema, type Tool as McpTool } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import type { AnyTool } from '../../tools/index.js';
import type { RunStore } from '../agent/run-store.js';
import type { Approvals } from '../approvals/index.js';
import { publicMessage } from '../public-message.js';
import type { AuditEntry } from '../audit/index.js';
import { toJsonSchema, ToolSchemaError } from '../../tools/tool-schema.js';
import { type Runbook } from '../runbooks/index.js';
import type { Logger } from '../logger.js';
import type { Gate, Principal } from '../gate/index.js';
import { APPROVAL_STATUS_TOOL, approvalStatus, approvalStatusTool } from './approval-status.js';
import { registerRunbookPrompts } from './runbook-prompts.js';
import { registerResources } from './resources.js';
import { PENDING_APPROVAL_SCHEMA, toCallToolResult } from './tool-results.js';

export interface McpServerDeps {
  gate: Gate;
  tools: readonly AnyTool[];
  runs: RunStore;
  /** For approval_status; without it a pending call can only be followed elsewhere. */
  approvals?: Approvals;
  auditFile: string;
  /** The last entries of the configured audit store (PostgreSQL); default: read from auditFile. */
  auditTail?: (count: number) => Promise<AuditEntry[]>;
  runbooks: readonly Runbook[];
  /** Who is calling, as the policy sees it: from the client's declared name (stdio) or its token (HTTP). */
  principalFor: (client: { name: string | undefined }) => Principal;
  /**
   * Whether the caller may read every run, approval and the audit log (the `read` scope;
   * stdio clients run as the operator). Without it: only its own runs and approvals.
   */
  readsAll: boolean;
  logger?: Logger;
  version?: string;
}

/** `mcp:<name>`, with the client's self-declared name reduced to characters safe in an id. */
export function principalFromClientName(name: string | undefined): Principal {
  const safe = (name ?? '')
    .trim()
    .replace(/[^A-Za-z0-9._-]+/g, '-')
    .slice(0, 64);
  return { id: `mcp:${safe || 'unnamed-client'}`, roles: [] };
}

/** tools/call, checked by the SDK's own wrapper (see createMcpServer). */
const LOOSE_CALL_TOOL = z.object({ method: z.literal('tools/call'), params: z.unknown() });

/**
 * The arguments as the client sent them. A `__proto__` key in the JSON becomes, once the
 * SDK has copied the arguments, the prototype of the object: its values would be read
 * through the chain yet pass a strict schema unseen. It is put back as an own key, so the
 * gate validates (and refuses, and audits) exactly what arrived.
 */
export function ownArgs(value: unknown, depth = 0): unknown {
  if (value === null || typeof value !== 'object' || depth > 64) return value;
  if (Array.isArray(value)) return value.map((v) => ownArgs(v, depth + 1));
  const out: Record<string, unknown> = {};
  const proto = Object.getPrototypeOf(value) as unknown;
  if (proto !== Object.prototype && proto !== null) {
    Object.defineProperty(out, '__proto__', {
      value: ownArgs(proto, depth + 1),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  for (const [k, v] of Object.entries(value))
    Object.defineProperty(out, k, {
      value: ownArgs(v, depth + 1),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  return out;
}

/** What tools/list says of one tool, derived from its definition: never a second copy. */
export function describeTool(tool: AnyTool): McpTool {
  const input = toJsonSchema(tool.input);
  if (input.type !== 'object')
    throw new ToolSchemaError(
      `tool ${tool.name}: its input must be a zod object to be offered over MCP, got ${String(input.type)}`,
    );
  return {
    name: tool.name,
    description: tool.description,
    inputSchema: input as McpTool['inputSchema'],
    // A call may end pending approval instead of with the tool's output; both shapes are listed.
    outputSchema: { type: 'object', anyOf: [toJsonSchema(tool.output), PENDING_APPROVAL_SCHEMA] },
    annotations: {
      readOnlyHint: tool.annotations.readOnly,
      destructiveHint: tool.annotations.destructive,
      idempotentHint: tool.annotations.idempotent,
      openWorldHint: tool.annotations.openWorld,
    },
  };
}

export function createMcpServer(deps: McpServerDeps): McpServer {
  const { gate, tools, logger } = deps;
  const mcp = new McpServer({ name: 'mlops-agent', version: deps.version ?? '0.1.0' });
  const listed = [...tools.map(describeTool), approvalStatusTool];
  const principal = () => deps.principalFor({ name: mcp.server.getClientVersion()?.name });

  // Tools use the low-level handlers: the SDK's own zod validation would answer bad
  // arguments before the gate saw them, and such calls must be audited like any other.
  mcp.server.registerCapabilities({ tools: { listChanged: false } });
  mcp.server.setRequestHandler(ListToolsRequestSchema, () => ({ tools: listed }));
  // Registered with a loose schema: the SDK then checks the request itself and answers a
  // malformed one InvalidParams (a strict schema here would fail first, as an internal
  // error), and the handler gets the arguments as parsed, own keys and all.
  mcp.server.setRequestHandler(LOOSE_CALL_TOOL, async (request) => {
    const { name, arguments: args } = request.params as { name: string; arguments?: Record<string, unknown> };
    if (name === APPROVAL_STATUS_TOOL) return approvalStatus(deps.approvals, args, deps.readsAll ? null : principal());
    try {
      const outcome = await gate.call({
        runId: null,
        callId: `mcp-${randomUUID()}`,
        principal: principal(),
        tool: name,
        args: ownArgs(args ?? {}),
      });
      return toCallToolResult(name, outcome);
    } catch (err) {
      // The gate throws only when it could not record a step (the audit log failed): nothing ran.
      logger?.error({ err, tool: name }, 'mcp tool call failed in the gate');
      return {
        isError: true,
        content: [{ type: 'text' as const, text: `${name} was not executed: ${publicMessage(err)}` }],
      };
    }
  });

  registerResources(mcp, {
    gate,
    runs: deps.runs,
    auditFile: deps.auditFile,
    ...(deps.auditTail ? { auditTail: deps.auditTail } : {}),
    principal,
    readsAll: deps.readsAll,
  });
  registerRunbookPrompts(mcp, deps.runbooks);
  return mcp;
}
