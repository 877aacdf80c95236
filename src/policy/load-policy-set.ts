// Reads policy files into one PolicySet, or refuses the whole set with every problem's
// file and line. Nothing is half-loaded: a set is either fully valid or not built.
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { UserError } from '../errors.js';
import { parsePolicyFile, type LoadedRule, type ParsedPolicyFile } from './policy-file.js';
import { createPolicySet } from './policy-set.js';
import type { PolicySet } from './types.js';
import type { PolicyIssue } from './yaml-nodes.js';

export type { PolicyIssue };

/** A policy file that cannot be used; `issues` lists each problem with its file and line. */
export class PolicyInvalidError extends UserError {
  constructor(readonly issues: PolicyIssue[]) {
    const lines = issues.map((i) => `${i.file}:${i.line}: ${i.message}`);
    const head = issues.length === 1 ? 'policy is invalid' : `policy is invalid (${issues.length} problems)`;
    super(`${head}:\n  ${lines.join('\n  ')}`, { code: 'policy_invalid' });
  }
}

export interface LoadPolicyOptions {
  /** Tool names a rule may cover; any other name is refused so a typo cannot silently cover nothing. */
  knownTools: readonly string[];
  /** Shown in every decision; defaults to the files' metadata names. */
  name?: string;
}

export async function loadPolicySet(files: string[], options: LoadPolicyOptions): Promise<PolicySet> {
  if (files.length === 0) {
    throw new UserError('no policy files given; pass at least one, e.g. policies/default.yaml', {
      code: 'policy_invalid',
    });
  }
  const texts = await Promise.all(
    files.map(async (file) => {
      try {
        return await readFile(file, 'utf8');
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory, not a file' : String(err);
        throw new PolicyInvalidError([{ file, line: 1, message: `cannot read the policy file: ${why}` }]);
      }
    }),
  );
  return buildPolicySet(
    files.map((file, i) => ({ file, text: texts[i]! })),
    options,
  );
}

/** Builds a set from file contents already in memory (used by loadPolicySet and tests of odd files). */
export function buildPolicySet(sources: { file: string; text: string }[], options: LoadPolicyOptions): PolicySet {
  const known = new Set(options.knownTools);
  const parsed = sources.map((s) => parsePolicyFile(s.file, s.text, known));
  const issues: PolicyIssue[] = parsed.flatMap((p) => p.issues);

  const roles = mergeRoles(parsed);
  const seen = new Map<string, LoadedRule>();
  const rules: LoadedRule[] = [];
  for (const rule of parsed.flatMap((p) => p.rules)) {
    const first = seen.get(rule.id);
    if (first) {
      issues.push({
        file: rule.file,
        line: rule.line,
        message: `duplicate rule id "${rule.id}" (first defined at ${first.file}:${first.line}); rule ids must be unique across the policy set`,
      });
      continue;
    }
    seen.set(rule.id, rule);
    rules.push(rule);
    for (const [i, role] of (rule.approval?.roles ?? []).entries()) {
      if (!roles.has(role)) {
        issues.push({
          file: rule.file,
          line: rule.approvalRoleLines[i] ?? rule.line,
          message: `rule "${rule.id}" asks for approval by role "${role}", which no file declares under "roles:"; declared roles: ${[...roles.keys()].join(', ') || '(none)'}`,
        });
      }
    }
  }
  if (issues.length > 0) throw new PolicyInvalidError(issues);

  const name = options.name ?? parsed.map((p) => p.name ?? basename(p.file)).join('+');
  return createPolicySet({
    name,
    files: sources.map((s) => s.file),
    rules,
    roles: new Map([...roles].map(([role, members]) => [role, [...members]])),
  });
}

function mergeRoles(parsed: ParsedPolicyFile[]): Map<string, Set<string>> {
  const roles = new Map<string, Set<string>>();
  for (const file of parsed) {
    for (const [role, { members }] of file.roles) {
      const set = roles.get(role) ?? new Set<string>();
      for (const m of members) set.add(m);
      roles.set(role, set);
    }
  }
  return roles;
}
