// Holds the policy in force. A reload builds the whole new set (and its shadow) before
// swapping, so a broken edit never half-replaces the last good policy.
import { UserError, describeError } from '../errors.js';
import { loadPolicySet } from './load-policy-set.js';
import { evaluateWithShadow } from './policy-set.js';
import type { Decision, PolicyRequest, PolicySet } from './types.js';

export interface PolicyStoreOptions {
  files: string[];
  /** Evaluated beside the enforced set; its decisions are reported and change nothing. */
  shadowFiles?: string[];
  knownTools: readonly string[];
}

export type ReloadResult =
  | { ok: true; policy: PolicySet; shadow: PolicySet | null }
  /** The previous policy stays in force. */
  | { ok: false; error: UserError };

export interface PolicyStore {
  current(): PolicySet;
  shadow(): PolicySet | null;
  evaluate(req: PolicyRequest): { decision: Decision; shadow: Decision | null };
  /** Re-reads the files (or new ones, when given); on any error keeps the old sets and says why. */
  reload(files?: { files?: string[]; shadowFiles?: string[] }): Promise<ReloadResult>;
}

async function loadBoth(files: string[], shadowFiles: string[], knownTools: readonly string[]) {
  const policy = await loadPolicySet(files, { knownTools });
  const shadow = shadowFiles.length > 0 ? await loadPolicySet(shadowFiles, { knownTools }) : null;
  return { policy, shadow };
}

/** Loads the initial sets; a broken initial policy throws, since there is nothing to fall back on. */
export async function createPolicyStore(options: PolicyStoreOptions): Promise<PolicyStore> {
  let files = [...options.files];
  let shadowFiles = [...(options.shadowFiles ?? [])];
  let state = await loadBoth(files, shadowFiles, options.knownTools);
  // Reloads run one at a time so an older, slower read cannot overwrite a newer one.
  let queue: Promise<unknown> = Promise.resolve();

  return {
    current: () => state.policy,
    shadow: () => state.shadow,
    evaluate: (req) => evaluateWithShadow(state.policy, state.shadow, req),
    reload(next) {
      const run = queue.then(async (): Promise<ReloadResult> => {
        const nextFiles = next?.files ?? files;
        const nextShadow = next?.shadowFiles ?? shadowFiles;
        try {
          const loaded = await loadBoth(nextFiles, nextShadow, options.knownTools);
          state = loaded;
          files = [...nextFiles];
          shadowFiles = [...nextShadow];
          return { ok: true, ...loaded };
        } catch (err) {
          const error =
            err instanceof UserError
              ? err
              : new UserError(`policy reload failed: ${describeError(err)}`, { code: 'policy_invalid', cause: err });
          return { ok: false, error };
        }
      });
      queue = run;
      return run;
    },
  };
}
