// What both registries answer when an alias is moved where it already points: setAlias is
// idempotent (a retried promotion moves nothing and records nothing twice).
import type { AliasMove } from '../../tools/ports.js';

/** The latest move that pointed `alias` where it already is; an unrecorded one when none did (removing an alias never set). */
export function alreadyThere(
  moves: AliasMove[],
  asked: { model: string; alias: string; version: string | null; by: string; reason: string },
  at = new Date().toISOString(),
): AliasMove {
  const last = moves.filter((m) => m.alias === asked.alias).at(-1);
  if (last && last.to === asked.version) return last;
  return {
    model: asked.model,
    alias: asked.alias,
    from: asked.version,
    to: asked.version,
    at,
    by: asked.by,
    reason: asked.reason,
  };
}
