import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createTokenResolver, missingScope, SCOPES } from '../../../src/api-tokens.js';
import { loadConfig } from '../../../src/app/config.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function withConfig(yaml: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'mlops-config-scopes-'));
  dirs.push(dir);
  writeFileSync(join(dir, 'mlops-agent.yaml'), yaml);
  return dir;
}

describe('API tokens in the configuration', () => {
  it('gives the quick-start env token every scope, as user:operator', () => {
    const config = loadConfig({ env: { MLOPS_AGENT_API_TOKEN: 'operator-token-0123456789' }, cwd: withConfig('{}\n') });
    expect(config.server.tokens).toEqual([
      { token: 'operator-token-0123456789', principal: 'user:operator', scopes: [...SCOPES] },
    ]);
  });

  it('refuses a config token without scopes, saying what to write', () => {
    const cwd = withConfig('server:\n  tokens: [{ token: monitor-token-0123456789, principal: "svc:grafana" }]\n');
    expect(() => loadConfig({ env: {}, cwd })).toThrow(
      /server\.tokens\.0\.scopes: required: list what this token may do, from alerts, chat, read, approve, mcp/,
    );
  });

  it('refuses an unknown scope, naming the ones there are', () => {
    const cwd = withConfig(
      'server:\n  tokens: [{ token: monitor-token-0123456789, principal: "svc:grafana", scopes: [alerts, admin] }]\n',
    );
    expect(() => loadConfig({ env: {}, cwd })).toThrow(
      /server\.tokens\.0\.scopes\.1: Invalid enum value\. Expected 'alerts' \| 'chat' \| 'read' \| 'approve' \| 'mcp'/,
    );
  });

  it('refuses the same token under two principals (config and env), naming both', () => {
    const cwd = withConfig(
      'server:\n  tokens: [{ token: shared-token-0123456789, principal: "user:alice", scopes: [read] }]\n',
    );
    let message = '';
    try {
      loadConfig({ env: { MLOPS_AGENT_API_TOKEN: 'shared-token-0123456789' }, cwd });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toContain(
      'server.tokens: the same token is given to user:alice (server.tokens.0) and to user:operator (env MLOPS_AGENT_API_TOKEN)',
    );
    expect(message).not.toContain('shared-token-0123456789');
  });

  it('refuses the same token twice in the file', () => {
    const cwd = withConfig(
      'server:\n  tokens:\n    - { token: shared-token-0123456789, principal: "user:alice", scopes: [read] }\n    - { token: shared-token-0123456789, principal: "user:bob", scopes: [approve] }\n',
    );
    expect(() => loadConfig({ env: {}, cwd })).toThrow(
      /user:alice \(server\.tokens\.0\) and to user:bob \(server\.tokens\.1\)/,
    );
  });

  it('reads the MCP limits and allowed hosts', () => {
    const cwd = withConfig(
      'server:\n  mcp: { sessionsPerPrincipal: 3, idleTimeoutMs: 60000, allowedHosts: [mlops-agent.internal] }\n',
    );
    expect(loadConfig({ env: {}, cwd }).server.mcp).toEqual({
      sessionsPerPrincipal: 3,
      idleTimeoutMs: 60_000,
      allowedHosts: ['mlops-agent.internal'],
    });
  });
});

describe('the token resolver HTTP routes and /mcp share', () => {
  const resolve = createTokenResolver([
    { token: 'monitor-token-0123456789', principal: 'svc:grafana', scopes: ['alerts'] },
    { token: 'alice-token-0123456789', principal: 'user:alice', scopes: ['read', 'approve'] },
  ]);

  it('resolves a bearer token to its principal and scopes, and nothing else to anyone', () => {
    expect(resolve('Bearer alice-token-0123456789')).toMatchObject({ principal: 'user:alice' });
    expect([...resolve('bearer   monitor-token-0123456789 ')!.scopes]).toEqual(['alerts']);
    for (const header of [
      undefined,
      '',
      'Bearer',
      'Basic alice-token-0123456789',
      'Bearer alice-token-012345678',
      'Bearer alice-token-0123456789 extra',
      ['Bearer alice-token-0123456789'],
    ]) {
      expect(resolve(header as string | undefined)).toBeNull();
    }
  });

  it('names the missing scope and the ones the token has', () => {
    const monitor = resolve('Bearer monitor-token-0123456789')!;
    expect(missingScope(monitor, 'alerts')).toBeNull();
    expect(missingScope(monitor, 'approve')).toBe(
      'the token of svc:grafana lacks the "approve" scope (it has: alerts); give it "approve" in server.tokens or use a token that has it',
    );
  });
});
