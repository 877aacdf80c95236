// The MCP room: the agent's tools, runs, registry and audit log offered to MCP clients,
// every call through the gate. Over stdio (`mlops-agent mcp`) and Streamable HTTP.
export { createMcpServer, describeTool, principalFromClientName, type McpServerDeps } from './mcp-server.js';
export { createMcpHttpHandler, type McpHttpHandler, type McpHttpOptions } from './http-handler.js';
export { APPROVALS_TAKEN_BY, PENDING_APPROVAL_SCHEMA, toCallToolResult } from './tool-results.js';
export { AUDIT_TAIL_ENTRIES } from './resources.js';
export { labelsOf } from './runbook-prompts.js';
export { guardRequests } from './request-guard.js';
