import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/app/config.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const fresh = () => {
  const dir = mkdtempSync(join(tmpdir(), 'mlops-config-'));
  dirs.push(dir);
  return dir;
};

describe('configuration', () => {
  it('defaults to ./.mlops-agent and the runbook planner with no file and no environment', () => {
    const cwd = fresh();
    const config = loadConfig({ env: {}, cwd });
    expect(config.home).toBe(join(cwd, '.mlops-agent'));
    expect(config.auditFile).toBe(join(cwd, '.mlops-agent', 'audit.jsonl'));
    expect(config.llm.provider).toBe('auto');
    expect(config.llm.geminiApiKey).toBeUndefined();
    expect(config.qualityGates).toEqual({
      minAuc: 0.82,
      maxCalibrationError: 0.05,
      maxP99LatencyMs: 50,
      maxParityGap: 0.05,
    });
    expect(config.configFile).toBeNull();
  });

  it('reads mlops-agent.yaml and lets the environment override it', () => {
    const cwd = fresh();
    writeFileSync(
      join(cwd, 'mlops-agent.yaml'),
      'home: /var/lib/agent\nloop:\n  maxSteps: 7\nllm:\n  geminiModel: gemini-from-file\n',
    );
    const config = loadConfig({ env: { GEMINI_MODEL: 'gemini-from-env', MLOPS_AGENT_HOME: '/srv/agent' }, cwd });
    expect(config.home).toBe('/srv/agent');
    expect(config.loop.maxSteps).toBe(7);
    expect(config.llm.geminiModel).toBe('gemini-from-env');
  });

  it('names the key at fault, and the environment variable that set it', () => {
    const cwd = fresh();
    writeFileSync(join(cwd, 'mlops-agent.yaml'), 'loop:\n  maxSteps: many\n');
    expect(() => loadConfig({ env: {}, cwd })).toThrow(/loop\.maxSteps: Expected number, received string/);
    expect(() => loadConfig({ env: { GEMINI_BASE_URL: 'not a url' }, cwd: fresh() })).toThrow(
      /llm\.geminiBaseUrl \(env GEMINI_BASE_URL\): Invalid url/,
    );
  });

  it('refuses unknown keys so a typo does not silently fall back to a default', () => {
    const cwd = fresh();
    writeFileSync(join(cwd, 'mlops-agent.yaml'), 'loop:\n  maxStep: 3\n');
    expect(() => loadConfig({ env: {}, cwd })).toThrow(/Unrecognized key.*maxStep/);
  });

  it('says which file is missing when one is named explicitly', () => {
    const cwd = fresh();
    expect(() => loadConfig({ env: { MLOPS_AGENT_CONFIG: 'nope.yaml' }, cwd })).toThrow(
      /nope\.yaml does not exist \(set by MLOPS_AGENT_CONFIG\)/,
    );
  });

  it('reads the server keys, the operator token, REDIS_URL and PORT', () => {
    const cwd = fresh();
    expect(loadConfig({ env: {}, cwd }).server).toEqual({
      port: 8080,
      host: '127.0.0.1',
      tokens: [],
      bodyLimitBytes: 1024 * 1024,
      mcp: { sessionsPerPrincipal: 10, idleTimeoutMs: 300_000, allowedHosts: [] },
    });
    writeFileSync(
      join(cwd, 'mlops-agent.yaml'),
      'server:\n  tokens: [{ token: file-token-0123456789, principal: "svc:ci", scopes: [alerts] }]\nmcpAllowedOrigins: [http://localhost:6274]\n',
    );
    const config = loadConfig({
      env: { PORT: '9090', MLOPS_AGENT_API_TOKEN: 'operator-token-0123456789', REDIS_URL: 'redis://127.0.0.1:6379/0' },
      cwd,
    });
    expect(config.server.port).toBe(9090);
    expect(config.server.tokens).toEqual([
      { token: 'file-token-0123456789', principal: 'svc:ci', scopes: ['alerts'] },
      {
        token: 'operator-token-0123456789',
        principal: 'user:operator',
        scopes: ['alerts', 'chat', 'read', 'approve', 'mcp'],
      },
    ]);
    expect(config.redisUrl).toBe('redis://127.0.0.1:6379/0');
    expect(config.mcpAllowedOrigins).toEqual(['http://localhost:6274']);
    expect(() => loadConfig({ env: { PORT: 'eighty' }, cwd })).toThrow(/server\.port \(env PORT\)/);
    expect(() => loadConfig({ env: { MLOPS_AGENT_API_TOKEN: 'short' }, cwd })).toThrow(/server\.tokens\.1\.token/);
  });
});
