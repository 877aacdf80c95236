// The audit store the configuration asks for: the log a runtime appends to, the reader the
// CLI verifies and exports with, and the public keys verify accepts.
import type { Clock } from '../clock.js';
import type { Logger } from '../logger.js';
import { openFileAuditLog } from './file-audit-log.js';
import { openPostgresAuditReader } from './pg-reader.js';
import { openPostgresAuditLog } from './postgres-audit-log.js';
import { openFileAuditReader, type AuditReader } from './reader.js';
import { keyRing, loadPublicKey, loadSigningKey, type KeyRing } from './signing.js';
import type { AuditLog } from './types.js';

/** What the audit room reads of the operator's settings (the app's config has this shape). */
export interface AuditConfig {
  auditFile: string;
  auditStore: 'file' | 'postgres';
  databaseUrl?: string | undefined;
  audit: {
    postgresSchema: string;
    signingKeyFile?: string | undefined;
    publicKeyFiles: string[];
    checkpoint: { everyEntries: number; everyMs: number; postUrl?: string | undefined };
  };
}

export async function openAuditLog(config: AuditConfig, deps: { clock: Clock; logger: Logger }): Promise<AuditLog> {
  const { signingKeyFile, checkpoint } = config.audit;
  const checkpoints = {
    signer: signingKeyFile ? loadSigningKey(signingKeyFile) : null,
    everyEntries: checkpoint.everyEntries,
    everyMs: checkpoint.everyMs,
    ...(checkpoint.postUrl ? { postUrl: checkpoint.postUrl } : {}),
  };
  if (config.auditStore === 'postgres') {
    return openPostgresAuditLog({
      url: config.databaseUrl!,
      schema: config.audit.postgresSchema,
      checkpoints,
      ...deps,
    });
  }
  return openFileAuditLog({ file: config.auditFile, checkpoints, ...deps });
}

/** A reader of the configured chain; `file` reads that file log instead. */
export function openAuditReader(
  config: AuditConfig,
  logger: Logger,
  options: { file?: string; checkpointsFile?: string } = {},
): AuditReader {
  if (options.file === undefined && config.auditStore === 'postgres') {
    return openPostgresAuditReader({ url: config.databaseUrl!, schema: config.audit.postgresSchema, logger });
  }
  return openFileAuditReader(
    options.file ?? config.auditFile,
    options.checkpointsFile ? { checkpointsFile: options.checkpointsFile } : {},
  );
}

/** The keys checkpoints are checked with: the files given, else the configured ones and the signing key's own. */
export function verificationKeys(config: AuditConfig, files: readonly string[] = []): KeyRing {
  if (files.length > 0) return keyRing(files.map(loadPublicKey));
  const keys = config.audit.publicKeyFiles.map(loadPublicKey);
  if (config.audit.signingKeyFile) keys.push(loadSigningKey(config.audit.signingKeyFile).publicKey);
  return keyRing(keys);
}
