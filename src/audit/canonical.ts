// RFC 8785 canonical JSON and the entry hash that chains the log.
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import type { AuditEntry } from './types.js';

// canonicalize is CommonJS (`module.exports = fn`) but its typings declare an ES default
// export, so under NodeNext a default import type-checks as a namespace. require() gets
// the function itself at runtime and in the type-checker alike.
const require = createRequire(import.meta.url);
const canonicalize = require('canonicalize') as (value: unknown) => string | undefined;

export function canonicalJson(value: unknown): string {
  const text = canonicalize(value);
  if (text === undefined) throw new TypeError('value has no JSON representation');
  return text;
}

export function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** SHA-256 hex of the canonical JSON of an entry, every field but `hash` included. */
export function hashEntry(entry: Omit<AuditEntry, 'hash'>): string {
  // Any extra field a reader found in a line is hashed too, so adding one is detected.
  const { hash: _ignored, ...rest } = entry as Omit<AuditEntry, 'hash'> & { hash?: unknown };
  return sha256Hex(canonicalJson(rest));
}

/** The line written to disk: readable field order; the hash does not depend on it. */
export function serializeEntry(entry: AuditEntry): string {
  const ordered: AuditEntry = {
    schemaVersion: entry.schemaVersion,
    seq: entry.seq,
    time: entry.time,
    runId: entry.runId,
    principal: entry.principal,
    kind: entry.kind,
    data: entry.data,
    prevHash: entry.prevHash,
    hash: entry.hash,
  };
  return `${JSON.stringify(ordered)}\n`;
}
