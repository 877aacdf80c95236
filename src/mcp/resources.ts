// MCP resources: the registry and the serving view (read through the gate, so every read
// is audited like a tool call), run transcripts, and the tail of the audit log.
import { randomUUID } from 'node:crypto';
import { type McpServer, ResourceTemplate } from '@modelcontextprotocol/sdk/server/mcp.js';
import { ErrorCode, McpError, type ReadResourceResult } from '@modelcontextprotocol/sdk/types.js';
import type { RunStore } from '../agent/run-store.js';
import { readAuditEntries, type AuditEntry } from '../audit/index.js';
import { describeError } from '../errors.js';
import { refusedBy, type Gate, type Principal } from '../policy/index.js';

export const AUDIT_TAIL_ENTRIES = 50;

interface ResourceDeps {
  gate: Gate;
  runs: RunStore;
  auditFile: string;
  auditTail?: (count: number) => Promise<AuditEntry[]>;
  principal: () => Principal;
}

function json(uri: URL, value: unknown): ReadResourceResult {
  return { contents: [{ uri: uri.href, mimeType: 'application/json', text: JSON.stringify(value, null, 2) }] };
}

function one(value: string | string[] | undefined, name: string): string {
  const v = Array.isArray(value) ? value[0] : value;
  if (!v) throw new McpError(ErrorCode.InvalidParams, `the resource URI needs a ${name}`);
  return decodeURIComponent(v);
}

export function registerResources(mcp: McpServer, deps: ResourceDeps): void {
  const { gate, runs, auditFile, principal } = deps;

  // A resource read is a read-only tool call through the gate: same policy, same audit trail.
  async function read(tool: string, args: Record<string, unknown>): Promise<unknown> {
    const outcome = await gate.call({ runId: null, callId: `mcp-resource-${randomUUID()}`, principal: principal(), tool, args });
    if (outcome.status === 'executed') return outcome.output;
    const why =
      outcome.status === 'invalid' || outcome.status === 'failed'
        ? outcome.error
        : outcome.status === 'waiting'
          ? outcome.summary
          : `${outcome.status === 'refused' ? 'refused' : 'needs approval'} by ${refusedBy(outcome.decision)}: ${outcome.decision.reason}`;
    throw new McpError(ErrorCode.InvalidRequest, `${tool} ${JSON.stringify(args)}: ${why}`);
  }
  const registry = (args: Record<string, unknown>) => read('registry_query', args);

  mcp.registerResource('models', 'mlops://models', { title: 'Models', description: 'Every model in the registry with its aliases', mimeType: 'application/json' }, async (uri) =>
    json(uri, await registry({ action: 'list_models' })),
  );

  mcp.registerResource(
    'model-versions',
    new ResourceTemplate('mlops://models/{model}/versions', { list: undefined }),
    { title: 'Model versions', description: 'All versions of a model: lineage, metrics, quality gates, aliases', mimeType: 'application/json' },
    async (uri, vars) => json(uri, await registry({ action: 'list_versions', model: one(vars.model, 'model name') })),
  );

  mcp.registerResource(
    'model-serving',
    new ResourceTemplate('mlops://models/{model}/serving', { list: undefined }),
    {
      title: 'What serves a model',
      description: 'Per environment: traffic split, canary step, target and state, latest analyses with failed checks, last known-good version, pending approvals (the deployment_status tool)',
      mimeType: 'application/json',
    },
    async (uri, vars) => json(uri, await read('deployment_status', { model: one(vars.model, 'model name') })),
  );

  mcp.registerResource(
    'run',
    new ResourceTemplate('mlops://runs/{id}', { list: undefined }),
    { title: 'Agent run', description: 'One run of the agent: trigger, status and full transcript', mimeType: 'application/json' },
    async (uri, vars) => {
      const id = one(vars.id, 'run id');
      let run;
      try {
        run = await runs.get(id);
      } catch (err) {
        throw new McpError(ErrorCode.InvalidParams, describeError(err));
      }
      if (!run) throw new McpError(ErrorCode.InvalidParams, `no run with id ${id}`);
      return json(uri, run);
    },
  );

  mcp.registerResource(
    'audit-tail',
    'mlops://audit/tail',
    { title: 'Audit log tail', description: `The last ${AUDIT_TAIL_ENTRIES} audit entries, oldest first`, mimeType: 'application/json' },
    async (uri) => json(uri, deps.auditTail ? await deps.auditTail(AUDIT_TAIL_ENTRIES) : await readAuditEntries(auditFile, { tail: AUDIT_TAIL_ENTRIES })),
  );
}
