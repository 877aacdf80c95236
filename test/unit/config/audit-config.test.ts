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

describe('the audit configuration', () => {
  it('keeps the chain in a file, with unsigned checkpoints every 1,000 entries or minute, when nothing is set', () => {
    const config = loadConfig({ env: {}, cwd: fresh() });
    expect(config.auditStore).toBe('file');
    expect(config.audit).toMatchObject({
      postgresSchema: 'mlops_audit',
      publicKeyFiles: [],
      checkpoint: { everyEntries: 1000, everyMs: 60_000 },
    });
    expect(config.audit.signingKeyFile).toBeUndefined();
  });

  it('keeps the chain in PostgreSQL when DATABASE_URL is set, unless audit.store says file', () => {
    const cwd = fresh();
    expect(loadConfig({ env: { DATABASE_URL: 'postgres://app@db:5432/mlops' }, cwd })).toMatchObject({
      auditStore: 'postgres',
      databaseUrl: 'postgres://app@db:5432/mlops',
    });
    expect(
      loadConfig({ env: { DATABASE_URL: 'postgres://app@db:5432/mlops', MLOPS_AGENT_AUDIT_STORE: 'file' }, cwd })
        .auditStore,
    ).toBe('file');
  });

  it('refuses audit.store postgres without DATABASE_URL, saying how to set it', () => {
    const cwd = fresh();
    writeFileSync(join(cwd, 'mlops-agent.yaml'), 'audit:\n  store: postgres\n');
    expect(() => loadConfig({ env: {}, cwd })).toThrow(
      /audit\.store \(env MLOPS_AGENT_AUDIT_STORE\): is postgres but databaseUrl \(DATABASE_URL\) is not set/,
    );
  });

  it('resolves key files against the working directory and takes the signing key from the environment', () => {
    const cwd = fresh();
    writeFileSync(
      join(cwd, 'mlops-agent.yaml'),
      'audit:\n  publicKeyFiles: [keys/old.pub]\n  checkpoint:\n    everyEntries: 50\n    everyMs: 0\n    postUrl: https://witness.example/checkpoints\n',
    );
    const config = loadConfig({ env: { MLOPS_AGENT_AUDIT_SIGNING_KEY: 'keys/audit.key' }, cwd });
    expect(config.audit.signingKeyFile).toBe(join(cwd, 'keys', 'audit.key'));
    expect(config.audit.publicKeyFiles).toEqual([join(cwd, 'keys', 'old.pub')]);
    expect(config.audit.checkpoint).toEqual({
      everyEntries: 50,
      everyMs: 0,
      postUrl: 'https://witness.example/checkpoints',
    });
  });

  it('refuses a schema name that is not a plain SQL name', () => {
    expect(() => loadConfig({ env: { MLOPS_AGENT_AUDIT_SCHEMA: 'audit; drop table x' }, cwd: fresh() })).toThrow(
      /audit\.postgresSchema \(env MLOPS_AGENT_AUDIT_SCHEMA\): a lowercase SQL name/,
    );
  });
});
