// `mlops-agent mcp` as an MCP client runs it: the built command as a child process over
// stdio, driven by the SDK's own Client, against a temp data directory.
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { allTools } from '../../../tools/index.js';
import { createApprovals, createFileApprovalStore } from '../../../src/approvals/index.js';
import { openFileAuditLog, readAuditEntries } from '../../../src/audit/index.js';
import { systemClock } from '../../../src/clock.js';
import { silentLogger } from '../../../src/logger.js';
import { defaultPolicyDir } from '../../../src/paths.js';
import { createPolicyStore } from '../../../src/policy/index.js';
import { CLI } from '../../support/run-cli.js';
import { seededHome } from './seed-lab.js';
import { isDeepStrictEqual } from 'node:util';

const CLIENT_NAME = 'stdio-test-client';

/** The argument names a tool's zod input declares (through a superRefine, if any). */
function shapeKeys(schema: z.ZodTypeAny): string[] {
  if (schema instanceof z.ZodEffects) return shapeKeys(schema.innerType());
  const keys = Object.keys((schema as z.AnyZodObject).shape);
  expect(keys.length).toBeGreaterThan(0);
  return keys;
}

/** The built command as the client's child process, in `home`, with its stderr collected. */
function stdioTransport(home: string, onStderr: (text: string) => void): StdioClientTransport {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [CLI, 'mcp'],
    cwd: home,
    env: { PATH: process.env.PATH ?? '', HOME: home, MLOPS_AGENT_HOME: home, MLOPS_AGENT_LOG_LEVEL: 'info' },
    stderr: 'pipe',
  });
  transport.stderr?.on('data', (d: Buffer) => onStderr(d.toString()));
  return transport;
}

describe('mlops-agent mcp over stdio', () => {
  let home: string;
  let client: Client;
  let transport: StdioClientTransport;
  let stderr = '';
  const transportErrors: Error[] = [];

  beforeAll(async () => {
    home = await seededHome('mcp-stdio-');
    // The test rule makes one harmless read need an ML lead, so approval can be shown end to end.
    const policies = [
      new URL('../../fixtures/policies/approve-alias-history.yaml', import.meta.url).pathname,
      join(defaultPolicyDir, 'default.yaml'),
    ];
    await writeFile(join(home, 'mlops-agent.yaml'), `policy:\n  files: ${JSON.stringify(policies)}\n`);
    transport = stdioTransport(home, (text) => (stderr += text));
    client = new Client({ name: CLIENT_NAME, version: '1.0.0' });
    // Anything on stdout that is not a protocol message surfaces here as a parse error.
    client.onerror = (err) => transportErrors.push(err);
    await client.connect(transport);
  });

  afterAll(async () => {
    await client?.close();
    await rm(home, { recursive: true, force: true });
  });

  const audit = () => readAuditEntries(join(home, 'audit.jsonl'));

  it('lists every tool with its input properties, output schema and the annotations of its definition', async () => {
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual([...allTools.map((t) => t.name), 'approval_status'].sort());
    const status = tools.find((t) => t.name === 'approval_status')!;
    expect(Object.keys(status.inputSchema.properties ?? {})).toEqual(['approvalId']);
    expect(status.annotations).toMatchObject({ readOnlyHint: true, destructiveHint: false });
    for (const def of allTools) {
      const listed = tools.find((t) => t.name === def.name)!;
      expect(listed.description).toBe(def.description);
      expect(listed.inputSchema.type).toBe('object');
      expect(Object.keys(listed.inputSchema.properties ?? {}).sort()).toEqual(shapeKeys(def.input).sort());
      expect(listed.outputSchema?.type).toBe('object');
      expect(listed.annotations).toEqual({
        readOnlyHint: def.annotations.readOnly,
        destructiveHint: def.annotations.destructive,
        idempotentHint: def.annotations.idempotent,
        openWorldHint: def.annotations.openWorld,
      });
    }
  });

  it('runs a read-only tool and returns its output as structured content with the summary as text', async () => {
    const result = await client.callTool({ name: 'registry_query', arguments: { action: 'list_models' } });
    expect(result.isError).toBeFalsy();
    const structured = result.structuredContent as { models: { name: string; versionCount: number }[] };
    expect(structured.models).toEqual([expect.objectContaining({ name: 'credit-risk', versionCount: 1 })]);
    const content = result.content as { type: string; text: string }[];
    expect(content[0]!.text).toMatch(/credit-risk/);
  });

  it('reports a call naming a version that does not exist as a not-found tool error, not a policy refusal', async () => {
    const result = await client.callTool({
      name: 'deploy_canary',
      arguments: { model: 'credit-risk', version: '99', environment: 'production', trafficPercent: 5 },
    });
    expect(result.isError).toBe(true);
    expect((result.content as { text: string }[])[0]!.text).toBe(
      'deploy_canary: not found: model "credit-risk" has no version "99"',
    );
  });

  it('reports a call that needs approval as pending, and executes nothing', async () => {
    const args = { model: 'credit-risk', version: '1', environment: 'production', trafficPercent: 50 };
    const result = await client.callTool({ name: 'deploy_canary', arguments: args });
    expect(result.isError).toBeFalsy();
    expect((result.content as { text: string }[])[0]!.text).toMatch(
      /^Pending approval, not executed: deploy_canary needs approval by 1 of \[ml-leads\].*Approval id: apr_/,
    );
    expect(result.structuredContent).toMatchObject({
      pendingApproval: {
        tool: 'deploy_canary',
        ruleId: 'approve-production-canary-above-5',
        roles: ['ml-leads'],
        count: 1,
        approvalId: expect.stringMatching(/^apr_/),
      },
    });

    const entries = await audit();
    // Audit data is stored in canonical key order: compare values, not text.
    const proposed = entries.find((e) => e.kind === 'call.proposed' && isDeepStrictEqual(e.data.args, args))!;
    const callId = proposed.data.callId;
    const forCall = entries.filter((e) => e.data.callId === callId);
    expect(forCall.map((e) => e.kind)).toEqual(['call.proposed', 'policy.decision', 'approval.requested']);
    expect((forCall[1]!.data.decision as { effect: string }).effect).toBe('require_approval');
  });

  it('executes a parked call exactly once after an ML lead approves it elsewhere, and reports it through approval_status', async () => {
    const pending = await client.callTool({
      name: 'registry_query',
      arguments: { action: 'alias_history', model: 'credit-risk' },
    });
    const { approvalId } = (pending.structuredContent as { pendingApproval: { approvalId: string } }).pendingApproval;
    expect(approvalId).toMatch(/^apr_/);

    // Another process decides on the shared approval store, with an audit log of its own
    // (one audit log has one writer: the mcp process holds this home's).
    const deciderAudit = await openFileAuditLog({ file: join(home, 'decider-audit.jsonl') });
    const policy = await createPolicyStore({
      files: [join(defaultPolicyDir, 'default.yaml')],
      knownTools: allTools.map((t) => t.name),
    });
    const decider = createApprovals({
      store: createFileApprovalStore(join(home, 'approvals')),
      audit: deciderAudit,
      rolesOf: (id) => policy.current().rolesOf(id),
      stateOf: async () => null,
      clock: systemClock,
      logger: silentLogger,
    });
    expect(
      await decider.decide(approvalId, { approverId: 'user:bob', verdict: 'grant', comment: null, via: 'cli' }),
    ).toMatchObject({ ok: true, resolved: true });
    await deciderAudit.close();

    let status: { status: string; outcome: { status: string } | null } | undefined;
    for (let i = 0; i < 300 && !status?.outcome; i++) {
      status = (await client.callTool({ name: 'approval_status', arguments: { approvalId } }))
        .structuredContent as typeof status;
      if (!status?.outcome) await new Promise((r) => setTimeout(r, 50));
    }
    expect(status).toMatchObject({ status: 'granted', outcome: { status: 'executed', output: { aliasHistory: [] } } });
    const started = (await audit()).filter((e) => e.kind === 'execution.started' && e.data.tool === 'registry_query');
    const consumed = (await audit()).filter((e) => e.kind === 'approval.consumed' && e.data.approvalId === approvalId);
    expect(consumed).toHaveLength(1);
    expect(started.filter((e) => e.data.callId === consumed[0]!.data.callId)).toHaveLength(1);
  });

  it('answers bad arguments with a tool error naming the field, and audits the attempt', async () => {
    const result = await client.callTool({
      name: 'deploy_canary',
      arguments: { model: 'credit-risk', version: '1', environment: 'production', trafficPercent: 'lots' },
    });
    expect(result.isError).toBe(true);
    expect((result.content as { text: string }[])[0]!.text).toMatch(
      /invalid arguments for deploy_canary: trafficPercent: /,
    );
    const invalid = (await audit()).filter((e) => e.kind === 'call.invalid');
    expect(invalid.some((e) => String(e.data.error).includes('trafficPercent'))).toBe(true);
  });

  it('reports a tool that failed after the policy allowed it as a tool error', async () => {
    const result = await client.callTool({ name: 'check_data_quality', arguments: { dataset: 'no-such-dataset' } });
    expect(result.isError).toBe(true);
    expect((result.content as { text: string }[])[0]!.text).toMatch(
      /^check_data_quality failed after the policy allowed it: .*no-such-dataset/,
    );
    expect((await audit()).some((e) => e.kind === 'execution.failed' && e.data.tool === 'check_data_quality')).toBe(
      true,
    );
  });

  it('records every call under the principal mcp:<client name>', async () => {
    await client.callTool({ name: 'registry_query', arguments: { action: 'list_models' } });
    await client.callTool({
      name: 'deploy_canary',
      arguments: { model: 'credit-risk', version: '99', environment: 'staging', trafficPercent: 5 },
    });
    const proposed = (await audit()).filter((e) => e.kind === 'call.proposed');
    expect(proposed.length).toBeGreaterThanOrEqual(2);
    for (const e of proposed) expect(e.principal).toBe(`mcp:${CLIENT_NAME}`);
  });

  it('serves the registry, the audit tail and the runbooks as resources and prompts', async () => {
    const models = await client.readResource({ uri: 'mlops://models' });
    expect(JSON.parse((models.contents[0] as { text: string }).text).models[0].name).toBe('credit-risk');
    const versions = await client.readResource({ uri: 'mlops://models/credit-risk/versions' });
    expect(
      JSON.parse((versions.contents[0] as { text: string }).text).versions.map((v: { version: string }) => v.version),
    ).toEqual(['1']);
    const tail = JSON.parse(
      ((await client.readResource({ uri: 'mlops://audit/tail' })).contents[0] as { text: string }).text,
    ) as { kind: string }[];
    expect(tail.length).toBeGreaterThan(0);
    expect(tail.length).toBeLessThanOrEqual(50);
    await expect(client.readResource({ uri: 'mlops://runs/no-such-run' })).rejects.toThrow(
      /no run with id no-such-run/,
    );
    // What serves: the deployment_status view, read through the gate (nothing serves yet here).
    const serving = JSON.parse(
      ((await client.readResource({ uri: 'mlops://models/credit-risk/serving' })).contents[0] as { text: string }).text,
    );
    expect(serving).toMatchObject({
      model: 'credit-risk',
      views: [
        { environment: 'staging', served: false },
        { environment: 'production', served: false, pendingApprovals: expect.any(Array) },
      ],
    });
    expect((await audit()).some((e) => e.kind === 'execution.finished' && e.data.tool === 'deployment_status')).toBe(
      true,
    );
    await expect(client.readResource({ uri: 'mlops://models/fraud-score/serving' })).rejects.toThrow(
      /model "fraud-score" is not in the registry/,
    );

    const { prompts } = await client.listPrompts();
    const drift = prompts.find((p) => p.name === 'drift-retrain')!;
    expect(drift.arguments?.map((a) => a.name).sort()).toEqual(['dataset', 'environment', 'model']);
    const prompt = await client.getPrompt({
      name: 'drift-retrain',
      arguments: { model: 'credit-risk', dataset: 'credit-recent' },
    });
    const text = (prompt.messages[0]!.content as { text: string }).text;
    expect(text).toMatch(/labels dataset=credit-recent, model=credit-risk\./);
    expect(text).toMatch(/Steps:\n1\. check_data_quality: /);
    expect(text).toMatch(/\n2\. stop for a person when .*: The recent data breaks a rule of its data contract/);
    const rollback = (await client.getPrompt({ name: 'canary-rollback', arguments: { model: 'credit-risk' } }))
      .messages[0]!.content as { text: string };
    expect(rollback.text).toMatch(/1\. rollback \(mitigation: do this first\): /);
  });

  it('exits on its own when the client closes the connection', async () => {
    // A client of its own, in a home of its own (a data directory's audit log has one writer).
    const ownHome = await seededHome('mcp-stdio-close-');
    const own = stdioTransport(ownHome, () => undefined);
    const ownClient = new Client({ name: 'closing-client', version: '1.0.0' });
    await ownClient.connect(own);
    await ownClient.listTools();
    const pid = own.pid!;
    const started = Date.now();
    await ownClient.close();
    // The SDK would SIGTERM a child still running after 2 s; ending sooner means it shut down by itself.
    expect(Date.now() - started).toBeLessThan(2000);
    expect(() => process.kill(pid, 0)).toThrow();
    await rm(ownHome, { recursive: true, force: true });
  });

  it('keeps stdout for the protocol: no stray output broke a message, logs went to stderr', () => {
    expect(transportErrors).toEqual([]);
    expect(stderr).toMatch(/mcp server ready on stdio/);
  });
});
