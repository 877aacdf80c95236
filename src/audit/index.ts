// The tamper-evident audit log: append-only, fsync'd, hash-chained JSONL, and its verifier.
export type { AuditEntry, AuditEntryInput, AuditLog, TornTailReport, VerifyProblemKind, VerifyResult } from './types.js';
export { AUDIT_SCHEMA_VERSION, GENESIS_HASH } from './types.js';
export { openFileAuditLog, type FileAuditLogOptions } from './file-audit-log.js';
export { verifyAuditFile } from './verify.js';
export { readAuditEntries, type ReadAuditOptions } from './read-entries.js';
export { canonicalJson, hashEntry, sha256Hex } from './canonical.js';
