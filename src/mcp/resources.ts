// MCP resources: the registry and the serving view (read through the gate, so every read
// is audited like a tool call), run transcripts, and the tail of the audit log. Reads are
// dispatched here rather than by the SDK, so a URI that is not one (or a name that does
// not decode) is the client's fault (InvalidParams), never reported as an internal error.
import { randomUUID } from 'node:crypto';
import { type McpServer, ResourceTemplate } from '@modelcontextprotocol/sdk/server/mcp.js';
import {
  ErrorCode,
  McpError,
  ReadResourceRequestSchema,
  type ReadResourceResult,
} from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { UserError } from '../errors.js';
import type { RunStore } from '../agent/run-store.js';
import { isOwn } from '../approvals/index.js';
import { readAuditEntries, type AuditEntry } from '../audit/index.js';
import { publicMessage } from '../public-message.js';
import { refusedBy } from '../policy/index.js';
import { type Gate, type Principal } from '../gate/index.js';

export const AUDIT_TAIL_ENTRIES = 50;

interface ResourceDeps {
  gate: Gate;
  runs: RunStore;
  auditFile: string;
  auditTail?: (count: number) => Promise<AuditEntry[]>;
  principal: () => Principal;
  /** False: only the caller's own runs, and no audit log (it lacks the `read` scope). */
  readsAll: boolean;
}

function json(uri: URL, value: unknown): ReadResourceResult {
  return { contents: [{ uri: uri.href, mimeType: 'application/json', text: JSON.stringify(value, null, 2) }] };
}

function one(value: string | string[] | undefined, name: string): string {
  const v = Array.isArray(value) ? value[0] : value;
  if (!v) throw new McpError(ErrorCode.InvalidParams, `the resource URI needs a ${name}`);
  try {
    return decodeURIComponent(v);
  } catch {
    throw new McpError(ErrorCode.InvalidParams, `the ${name} in the resource URI is not validly percent-encoded`);
  }
}

/** Registered loosely and checked in the handler: a malformed request is the client's fault, not an internal error. */
const LOOSE_READ_RESOURCE = z.object({ method: z.literal('resources/read'), params: z.unknown() });

type Variables = Record<string, string | string[]>;
type Reader = (uri: URL, vars: Variables) => Promise<ReadResourceResult>;

export function registerResources(mcp: McpServer, deps: ResourceDeps): void {
  const { gate, runs, auditFile, principal } = deps;

  // A resource read is a read-only tool call through the gate: same policy, same audit trail.
  async function read(tool: string, args: Record<string, unknown>): Promise<unknown> {
    const outcome = await gate.call({
      runId: null,
      callId: `mcp-resource-${randomUUID()}`,
      principal: principal(),
      tool,
      args,
    });
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

  // Each resource is registered with the SDK (which lists them) and kept here (which reads them).
  const exact = new Map<string, Reader>();
  const templates: { template: ResourceTemplate; read: Reader }[] = [];
  const fixed = (name: string, uri: string, meta: Parameters<McpServer['registerResource']>[2], read: Reader) => {
    mcp.registerResource(name, uri, meta, (u) => read(u, {}));
    exact.set(uri, read);
  };
  const templated = (
    name: string,
    template: ResourceTemplate,
    meta: Parameters<McpServer['registerResource']>[2],
    read: Reader,
  ) => {
    mcp.registerResource(name, template, meta, read);
    templates.push({ template, read });
  };

  fixed(
    'models',
    'mlops://models',
    { title: 'Models', description: 'Every model in the registry with its aliases', mimeType: 'application/json' },
    async (uri) => json(uri, await registry({ action: 'list_models' })),
  );

  templated(
    'model-versions',
    new ResourceTemplate('mlops://models/{model}/versions', { list: undefined }),
    {
      title: 'Model versions',
      description: 'All versions of a model: lineage, metrics, quality gates, aliases',
      mimeType: 'application/json',
    },
    async (uri, vars) => json(uri, await registry({ action: 'list_versions', model: one(vars.model, 'model name') })),
  );

  templated(
    'model-serving',
    new ResourceTemplate('mlops://models/{model}/serving', { list: undefined }),
    {
      title: 'What serves a model',
      description:
        'Per environment: traffic split, canary step, target and state, latest analyses with failed checks, last known-good version, pending approvals (the deployment_status tool)',
      mimeType: 'application/json',
    },
    async (uri, vars) => json(uri, await read('deployment_status', { model: one(vars.model, 'model name') })),
  );

  templated(
    'run',
    new ResourceTemplate('mlops://runs/{id}', { list: undefined }),
    {
      title: 'Agent run',
      description: 'One run of the agent: trigger, status and full transcript',
      mimeType: 'application/json',
    },
    async (uri, vars) => {
      const id = one(vars.id, 'run id');
      let run;
      try {
        run = await runs.get(id);
      } catch (err) {
        throw new McpError(ErrorCode.InvalidParams, publicMessage(err));
      }
      if (!run || !(deps.readsAll || isOwn(principal().id, run.trigger.principal)))
        throw new McpError(ErrorCode.InvalidParams, `no run with id ${id}`);
      return json(uri, run);
    },
  );

  fixed(
    'audit-tail',
    'mlops://audit/tail',
    {
      title: 'Audit log tail',
      description: `The last ${AUDIT_TAIL_ENTRIES} audit entries, oldest first`,
      mimeType: 'application/json',
    },
    async (uri) => {
      if (!deps.readsAll)
        throw new McpError(ErrorCode.InvalidRequest, 'the audit log needs a token with the "read" scope');
      return json(
        uri,
        deps.auditTail
          ? await deps.auditTail(AUDIT_TAIL_ENTRIES)
          : await readAuditEntries(auditFile, { tail: AUDIT_TAIL_ENTRIES }),
      );
    },
  );

  mcp.server.removeRequestHandler('resources/read');
  mcp.server.setRequestHandler(LOOSE_READ_RESOURCE, async (request) => {
    const parsed = ReadResourceRequestSchema.safeParse(request);
    if (!parsed.success)
      throw new McpError(
        ErrorCode.InvalidParams,
        'resources/read needs params.uri, a resource URI (e.g. mlops://models)',
      );
    const raw = parsed.data.params.uri;
    let uri: URL;
    try {
      uri = new URL(raw);
    } catch {
      throw new McpError(
        ErrorCode.InvalidParams,
        `"${raw.slice(0, 200)}" is not a resource URI; resources/list names them (e.g. mlops://models)`,
      );
    }
    let found: { read: Reader; vars: Variables } | null = null;
    const fixedRead = exact.get(uri.toString());
    if (fixedRead) found = { read: fixedRead, vars: {} };
    for (const { template, read } of found ? [] : templates) {
      let vars: Variables | null = null;
      try {
        vars = template.uriTemplate.match(uri.toString());
      } catch {
        throw new McpError(
          ErrorCode.InvalidParams,
          `resource URI ${uri.toString().slice(0, 200)} cannot be read (too long or malformed)`,
        );
      }
      if (vars) {
        found = { read, vars };
        break;
      }
    }
    if (!found) throw new McpError(ErrorCode.InvalidParams, `Resource ${uri.toString().slice(0, 200)} not found`);
    try {
      return await found.read(uri, found.vars);
    } catch (err) {
      if (err instanceof McpError) throw err;
      if (err instanceof UserError) throw new McpError(ErrorCode.InvalidParams, publicMessage(err));
      throw new McpError(
        ErrorCode.InternalError,
        `reading ${uri.toString().slice(0, 200)} failed: ${publicMessage(err)}`,
      );
    }
  });
}
