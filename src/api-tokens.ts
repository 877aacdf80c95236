// Bearer tokens and what each may do. One resolver serves every HTTP surface (the serve
// routes, /mcp, the worker's /metrics), so a token means the same principal and the same
// scopes wherever it is presented. Tokens are compared as SHA-256 digests with
// timingSafeEqual, every token every time, so timing says nothing about which token (or
// how much of one) matched.
import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * `alerts`: post alert webhooks (firing and resolved); `chat`: start chat runs; `read`:
 * every run, approval, the audit log and MCP resources (without it a principal sees only
 * its own runs and approvals); `approve`: decide approvals; `mcp`: open MCP sessions.
 */
export const SCOPES = ['alerts', 'chat', 'read', 'approve', 'mcp'] as const;
export type Scope = (typeof SCOPES)[number];

export interface ApiToken {
  token: string;
  /** The policy principal requests with this token act as, e.g. `user:operator`. */
  principal: string;
  /** What the token may do; a route needing another scope answers 403 naming it. */
  scopes: readonly Scope[];
}

/** Who presented a token, and what it may do. */
export interface Caller {
  principal: string;
  scopes: ReadonlySet<Scope>;
}

export type TokenResolver = (authorization: string | string[] | undefined) => Caller | null;

const digest = (s: string) => createHash('sha256').update(s).digest();
const BEARER = /^Bearer\s+(\S+)\s*$/i;

/** `Authorization: Bearer <token>` to its caller, or null (absent, malformed, repeated or unknown). */
export function createTokenResolver(tokens: readonly ApiToken[]): TokenResolver {
  const known = tokens.map((t) => ({
    hash: digest(t.token),
    caller: { principal: t.principal, scopes: new Set(t.scopes) } as Caller,
  }));
  return (authorization) => {
    if (typeof authorization !== 'string') return null;
    const match = BEARER.exec(authorization);
    if (!match) return null;
    const given = digest(match[1]!);
    let found: Caller | null = null;
    for (const t of known) if (timingSafeEqual(t.hash, given) && found === null) found = t.caller;
    return found;
  };
}

/** Why a caller may not do this, naming the scope it lacks; null when it may. */
export function missingScope(caller: Caller, scope: Scope): string | null {
  if (caller.scopes.has(scope)) return null;
  const held = [...caller.scopes].join(', ') || 'none';
  return `the token of ${caller.principal} lacks the "${scope}" scope (it has: ${held}); give it "${scope}" in server.tokens or use a token that has it`;
}

/**
 * One token string under two entries is ambiguous (which principal, which scopes?):
 * each problem names both entries. `where(i)` says where entry i came from.
 */
export function duplicateTokenProblems(
  tokens: readonly Pick<ApiToken, 'token' | 'principal'>[],
  where: (index: number) => string,
): string[] {
  const first = new Map<string, number>();
  const problems: string[] = [];
  tokens.forEach((t, i) => {
    const earlier = first.get(t.token);
    if (earlier === undefined) {
      first.set(t.token, i);
      return;
    }
    const a = tokens[earlier]!;
    problems.push(
      `the same token is given to ${a.principal} (${where(earlier)}) and to ${t.principal} (${where(i)}); a token must stand for one principal: give each its own token`,
    );
  });
  return problems;
}
