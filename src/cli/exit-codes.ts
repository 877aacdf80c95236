// Exit codes of the mlops-agent command, by who is at fault.
import type { RunStatus } from '../agent/run.js';
import { isAgentError, UpstreamError, UserError } from '../errors.js';

export const EXIT = {
  ok: 0,
  /** The run ended failed or refused, or an unexpected fault. */
  failed: 1,
  /** Bad usage, input or configuration: fix the command or the config. */
  usage: 2,
  /** The audit log is broken (see `audit verify`). */
  auditBroken: 3,
  /** A system we depend on failed (LLM, disk, Redis): retrying later may help. */
  upstream: 4,
  /** The run stopped without acting, for a person (see its answer). */
  needsAttention: 5,
} as const;

/** The exit code of a command that ran one run: by how it ended (or, parked, that it waits). */
export function exitCodeForRun(status: RunStatus): number {
  switch (status) {
    case 'succeeded':
    case 'waiting_approval':
    case 'waiting':
      return EXIT.ok;
    case 'needs_attention':
      return EXIT.needsAttention;
    default:
      return EXIT.failed;
  }
}

export function exitCodeFor(err: unknown): number {
  // A store that failed for good is broken; one that is unreachable (PostgreSQL down) may come back.
  if (err instanceof UpstreamError)
    return err.code === 'audit_failed' && !err.retryable ? EXIT.auditBroken : EXIT.upstream;
  if (err instanceof UserError) return err.code === 'audit_corrupt' ? EXIT.auditBroken : EXIT.usage;
  if (isAgentError(err)) return EXIT.failed;
  return EXIT.failed;
}
