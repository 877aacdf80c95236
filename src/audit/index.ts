// The tamper-evident audit log: append-only, hash-chained entries in a file or PostgreSQL,
// checkpoints that let verify catch truncation and rewrites, and the verifier.
export type {
  AuditAppender,
  AuditEntry,
  AuditEntryInput,
  AuditLog,
  AuditStoreKind,
  Checkpoint,
  CheckpointReason,
  TornTailReport,
  VerifyProblemKind,
  VerifyResult,
} from './types.js';
export { AUDIT_SCHEMA_VERSION, CHECKPOINT_SCHEMA_VERSION, GENESIS_HASH } from './types.js';
export { openFileAuditLog, type FileAuditLogOptions } from './file-audit-log.js';
export { openPostgresAuditLog, type PostgresAuditLogOptions } from './postgres-audit-log.js';
export { DEFAULT_CHECKPOINTS, type CheckpointOptions } from './checkpointer.js';
export { verifyAuditFile } from './verify.js';
export {
  formatVerifyReport,
  isContradiction,
  type AuditVerifyReport,
  type CheckpointFinding,
  type CheckpointVerdict,
} from './verify-report.js';
export { openFileAuditReader, verifyAudit, verifyFileLog, type AuditReader } from './reader.js';
export { openPostgresAuditReader } from './pg-reader.js';
export { migrate as migratePostgresAudit, migrationSql, PG_SCHEMA_VERSION } from './pg-schema.js';
export { checkpointFileFor, readCheckpointFile, type CheckpointList } from './checkpoint-file.js';
export { parseCheckpoint, describeCheckpoint } from './checkpoint-record.js';
export {
  generateSigningKeyPair,
  keyIdOf,
  keyRing,
  loadPublicKey,
  loadSigningKey,
  checkSignature,
  type CheckpointSigner,
  type KeyRing,
} from './signing.js';
export { readAuditEntries, type ReadAuditOptions } from './read-entries.js';
export { canonicalJson, hashEntry, sealEntry, serializeEntry, sha256Hex } from './canonical.js';
export { openAuditLog, openAuditReader, verificationKeys, type AuditConfig } from './from-config.js';
export {
  buildEvidenceBundle,
  verifyEvidenceBundle,
  formatBundleVerification,
  EVIDENCE_SCHEMA_VERSION,
  type EvidenceBundle,
  type EvidenceContext,
  type BundleVerification,
} from './evidence-bundle.js';
export { runRecord, type RunRecord } from './evidence-facts.js';
export { renderEvidenceReport } from './evidence-report.js';
export { evidenceContext, type ContextSources } from './evidence-context.js';
export { createEvidenceExporter, type EvidenceExporter } from './evidence-exporter.js';
