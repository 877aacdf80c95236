// RFC 8785 canonical JSON and the entry hash that chains the log.
import { createHash, hash as oneShotHash } from 'node:crypto';
import { createRequire } from 'node:module';
import type { AuditEntry } from './types.js';

// canonicalize is CommonJS (`module.exports = fn`) but its typings declare an ES default
// export, so under NodeNext a default import type-checks as a namespace. require() gets
// the function itself at runtime and in the type-checker alike.
const require = createRequire(import.meta.url);
const canonicalize = require('canonicalize') as (value: unknown) => string | undefined;

/** Canonical JSON of any value (toJSON, undefined members and all, as RFC 8785 libraries do). */
export function canonicalJson(value: unknown): string {
  const text = canonicalize(value);
  if (text === undefined) throw new TypeError('value has no JSON representation');
  return text;
}

/**
 * Canonical JSON of a value holding only JSON types (what JSON.parse returns, or what
 * toJsonSafe let through). The same text as canonicalJson, several times faster: the
 * audit log hashes every entry it writes and verify every entry it reads.
 */
export function canonicalJsonValue(value: unknown): string {
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError(`${value} has no JSON representation`);
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object': {
      if (value === null) return 'null';
      if (Array.isArray(value)) {
        let text = '[';
        for (let i = 0; i < value.length; i++) text += (i > 0 ? ',' : '') + canonicalJsonValue(value[i]);
        return `${text}]`;
      }
      const record = value as Record<string, unknown>;
      let keys = Object.keys(record);
      // Sorted by UTF-16 code units, as RFC 8785 says and Array.prototype.sort does.
      for (let i = 1; i < keys.length; i++) {
        if (keys[i - 1]! > keys[i]!) {
          keys = keys.sort();
          break;
        }
      }
      let text = '{';
      for (let i = 0; i < keys.length; i++)
        text += `${i > 0 ? ',' : ''}${JSON.stringify(keys[i])}:${canonicalJsonValue(record[keys[i]!])}`;
      return `${text}}`;
    }
    default:
      throw new TypeError(`a ${typeof value} has no JSON representation`);
  }
}

// Node 20.12+ has the one-shot crypto.hash; it is a third faster than createHash per entry.
const sha256 =
  typeof oneShotHash === 'function'
    ? (data: string | Uint8Array) => oneShotHash('sha256', data, 'hex')
    : (data: string | Uint8Array) => createHash('sha256').update(data).digest('hex');

export function sha256Hex(data: string | Uint8Array): string {
  return sha256(data);
}

type Hashed = Omit<AuditEntry, 'hash'>;

/**
 * The canonical JSON of an entry but its hash, given the canonical JSON of its data. Keys
 * in RFC 8785 order: data, kind, prevHash, principal, runId, schemaVersion, seq, time.
 */
export function canonicalEntryText(entry: Hashed, canonicalData: string): string {
  return (
    `{"data":${canonicalData},"kind":${JSON.stringify(entry.kind)},"prevHash":${JSON.stringify(entry.prevHash)},` +
    `"principal":${JSON.stringify(entry.principal)},"runId":${entry.runId === null ? 'null' : JSON.stringify(entry.runId)},` +
    `"schemaVersion":${JSON.stringify(entry.schemaVersion)},"seq":${JSON.stringify(entry.seq)},"time":${JSON.stringify(entry.time)}}`
  );
}

const ENTRY_KEYS = new Set(['schemaVersion', 'seq', 'time', 'runId', 'principal', 'kind', 'data', 'prevHash']);

/** True when every object in a JSON value lists its keys in canonical (sorted) order. */
function keysSorted(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return true;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) if (!keysSorted(value[i])) return false;
    return true;
  }
  const record = value as Record<string, unknown>;
  const keys = Object.keys(record);
  for (let i = 0; i < keys.length; i++) {
    if (i > 0 && keys[i - 1]! >= keys[i]!) return false;
    if (!keysSorted(record[keys[i]!])) return false;
  }
  return true;
}

/**
 * Canonical JSON of parsed data. Lines written by this build hold their data in canonical
 * order, so JSON.stringify (native, and the same text for sorted keys) gives it at once;
 * older lines, in insertion order, take the general path.
 */
function canonicalParsedData(data: unknown): string {
  return keysSorted(data) ? JSON.stringify(data) : canonicalJsonValue(data);
}

/** SHA-256 hex of the canonical JSON of an entry, every field but `hash` included. */
export function hashEntry(entry: Hashed): string {
  // Any extra field a reader found in a line is hashed too, so adding one is detected.
  for (const key of Object.keys(entry)) {
    if (key !== 'hash' && !ENTRY_KEYS.has(key)) {
      const { hash: _ignored, ...rest } = entry as Hashed & { hash?: unknown };
      return sha256(canonicalJson(rest));
    }
  }
  return sha256(canonicalEntryText(entry, canonicalParsedData(entry.data)));
}

function lineOf(entry: AuditEntry, canonicalData: string): string {
  return (
    `{"schemaVersion":${JSON.stringify(entry.schemaVersion)},"seq":${JSON.stringify(entry.seq)},"time":${JSON.stringify(entry.time)},` +
    `"runId":${entry.runId === null ? 'null' : JSON.stringify(entry.runId)},"principal":${JSON.stringify(entry.principal)},` +
    `"kind":${JSON.stringify(entry.kind)},"data":${canonicalData},"prevHash":${JSON.stringify(entry.prevHash)},"hash":${JSON.stringify(entry.hash)}}`
  );
}

/**
 * The line stored for an entry (no newline): readable field order, with the data in
 * canonical form, so the stored data bytes are exactly the bytes that were hashed.
 */
export function serializeEntry(entry: AuditEntry): string {
  return `${lineOf(entry, canonicalJsonValue(entry.data))}\n`;
}

/** Hashes an entry and gives its stored line (no newline), serialising its data once. */
export function sealEntry(unhashed: Hashed): { entry: AuditEntry; line: string } {
  const data = canonicalJsonValue(unhashed.data);
  const entry: AuditEntry = { ...unhashed, hash: sha256(canonicalEntryText(unhashed, data)) };
  return { entry, line: lineOf(entry, data) };
}

/**
 * An entry as the pieces around its seq and prevHash, for a store that numbers and links
 * entries itself (PostgreSQL's audit_append): canonical = c1 + prevHash + c2 + seq + c3,
 * and the stored line = '{"schemaVersion":1,"seq":' + seq + l2 + prevHash + '","hash":"' + hash + '"}'.
 * Built from the same templates as canonicalEntryText and serializeEntry.
 */
export function entryPieces(entry: Omit<AuditEntry, 'hash' | 'seq' | 'prevHash'>): {
  c1: string;
  c2: string;
  c3: string;
  l2: string;
} {
  const data = canonicalJsonValue(entry.data);
  const kind = JSON.stringify(entry.kind);
  const principal = JSON.stringify(entry.principal);
  const runId = entry.runId === null ? 'null' : JSON.stringify(entry.runId);
  const time = JSON.stringify(entry.time);
  return {
    c1: `{"data":${data},"kind":${kind},"prevHash":"`,
    c2: `","principal":${principal},"runId":${runId},"schemaVersion":${JSON.stringify(entry.schemaVersion)},"seq":`,
    c3: `,"time":${time}}`,
    l2: `,"time":${time},"runId":${runId},"principal":${principal},"kind":${kind},"data":${data},"prevHash":"`,
  };
}
