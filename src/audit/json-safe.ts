// Checks what callers append before it reaches the chain: a value JSON cannot carry
// faithfully would make the stored entry differ from the hashed one.
import { UserError } from '../errors.js';
import type { AuditEntryInput } from './types.js';

const HINT = 'audit data takes plain objects, arrays, strings, finite numbers, booleans and null';

function reject(path: string, what: string, fix: string): never {
  throw new UserError(`audit entry ${path} is ${what}; ${fix}`, { code: 'input_invalid' });
}

function describeObject(value: object): string {
  const name = (value as { constructor?: { name?: unknown } }).constructor?.name;
  return typeof name === 'string' && name !== '' ? `a ${name}` : 'an object with a custom prototype';
}

/** A deep copy of `value` holding only JSON types, or a UserError naming the first bad path. */
export function toJsonSafe(value: unknown, path: string, seen: Set<object> = new Set()): unknown {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      if (!Number.isFinite(value))
        reject(path, String(value), 'store it as a string or null (JSON has no NaN or Infinity)');
      return value;
    case 'undefined':
      return reject(path, 'undefined', 'omit the key or use null');
    case 'bigint':
      return reject(path, 'a bigint', 'store it as a string');
    case 'function':
    case 'symbol':
      return reject(path, `a ${typeof value}`, HINT);
  }
  if (value === null) return null;
  const obj = value as object;
  if (seen.has(obj)) reject(path, 'a circular reference', 'pass a tree, not a graph');
  seen.add(obj);
  let copy: unknown;
  if (Array.isArray(obj)) {
    const out: unknown[] = [];
    for (let i = 0; i < obj.length; i++) out.push(toJsonSafe(obj[i], `${path}[${i}]`, seen));
    copy = out;
  } else {
    const proto = Object.getPrototypeOf(obj);
    if (obj instanceof Date) reject(path, 'a Date', 'pass date.toISOString()');
    if (obj instanceof Error) reject(path, 'an Error', 'pass { message: err.message } or describeError(err)');
    if (proto !== Object.prototype && proto !== null) reject(path, describeObject(obj), HINT);
    const out: Record<string, unknown> = {};
    for (const [key, inner] of Object.entries(obj)) out[key] = toJsonSafe(inner, `${path}.${key}`, seen);
    copy = out;
  }
  seen.delete(obj);
  return copy;
}

/** Validates an append and returns a private copy, so later mutation by the caller changes nothing. */
export function checkEntryInput(input: AuditEntryInput): AuditEntryInput {
  if (typeof input !== 'object' || input === null) {
    throw new UserError('audit entry must be an object { runId, principal, kind, data }', { code: 'input_invalid' });
  }
  const { runId, principal, kind, data } = input;
  if (runId !== null && (typeof runId !== 'string' || runId === '')) {
    throw new UserError(
      `audit entry runId must be a non-empty string or null, got ${JSON.stringify(runId) ?? String(runId)}`,
      { code: 'input_invalid' },
    );
  }
  if (typeof principal !== 'string' || principal === '') {
    throw new UserError(
      'audit entry principal must be a non-empty string naming who acted (e.g. "alice" or "mlops-agent")',
      { code: 'input_invalid' },
    );
  }
  if (typeof kind !== 'string' || kind === '') {
    throw new UserError('audit entry kind must be a non-empty string such as "policy.decision"', {
      code: 'input_invalid',
    });
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    throw new UserError(
      `audit entry data must be a plain object, got ${Array.isArray(data) ? 'an array' : data === null ? 'null' : typeof data}`,
      { code: 'input_invalid' },
    );
  }
  return { runId, principal, kind, data: toJsonSafe(data, 'data') as Record<string, unknown> };
}
