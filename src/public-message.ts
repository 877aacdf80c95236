// Error text as models and clients see it: data named by id, never by where it lives. A
// tool that fails on a missing file, a full disk or a broken lock says so with the file's
// name (`credit-recent.csv`, `apr_mx5q2k1a_3f9c0d12.json`), not the data directory's
// absolute path, which tells whoever reads it the machine's layout and user names. The
// server log keeps the whole message for the operator.
import { describeError } from './errors.js';

/**
 * An absolute POSIX path of two or more segments, starting at a boundary (not inside a
 * URL like http://host/a/b, whose path follows the host). Our own HTTP routes in
 * messages (POST /v1/approvals/…/decision) are not paths and stay as they are.
 */
const ABSOLUTE_PATH = /(?<![\w.:/~@%+-])\/(?!\/)(?:[^\s'"`()<>[\]{},;|]+\/)+[^\s'"`()<>[\]{},;|]*/g;
const ROUTE_PREFIXES = new Set(['v1', 'mcp', 'healthz', 'readyz', 'metrics', '.well-known']);

/** The text with every absolute path replaced by its last segment (the file's name, usually its id). */
export function redactPaths(text: string): string {
  return text.replace(ABSOLUTE_PATH, (path) => {
    const segments = path.split('/').filter(Boolean);
    if (segments.length === 0 || ROUTE_PREFIXES.has(segments[0]!)) return path;
    return segments.at(-1)!;
  });
}

/** describeError for anything a model or a client reads. */
export function publicMessage(err: unknown): string {
  return redactPaths(describeError(err));
}
