// `mlops-agent policy check|explain`: validate policy edits before they go live, and see
// why a call would be allowed, denied or parked for approval.
import { Command, InvalidArgumentError } from 'commander';
import { UserError } from '../errors.js';
import { formatDecision, formatExplanation, loadPolicySet } from '../policy/index.js';
import { explainCall, parseRiskOverrides, type ExplainedCall } from '../policy/explain-call.js';
import type { AnyTool, Backends } from '../../tools/index.js';

/** Exit codes: 0 allow (or files valid), 2 invalid policy or arguments, or risk not computed, 3 deny, 4 require_approval. */
export const POLICY_EXIT = { allow: 0, invalid: 2, deny: 3, require_approval: 4 } as const;

export interface PolicyCommandDeps {
  tools: () => readonly AnyTool[];
  defaultFiles: () => string[];
  /** The current state risk is computed from: the lab under `home` (default: the configured one), read-only. */
  openState: (home: string | undefined) => Promise<{ backends: Backends; where: string; close(): Promise<void> }>;
}

function parseJsonObject(flag: string) {
  return (value: string): Record<string, unknown> => {
    let parsed: unknown;
    try {
      parsed = JSON.parse(value);
    } catch (err) {
      throw new InvalidArgumentError(`${flag} must be JSON, e.g. '{"model":"credit-risk"}': ${(err as Error).message}`);
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      throw new InvalidArgumentError(`${flag} must be a JSON object, e.g. '{"model":"credit-risk"}'`);
    }
    return parsed as Record<string, unknown>;
  };
}

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

/** The explanation an operator reads, and the exit code: the gate's decision, or 2 when it is not known. */
export function formatExplainedCall(result: ExplainedCall, where: string): { text: string; exitCode: number } {
  switch (result.kind) {
    case 'not_judged':
      return { text: `not judged: ${result.reason}`, exitCode: POLICY_EXIT.invalid };
    case 'decided': {
      const lines = [
        formatExplanation(result.explanation),
        `risk:     computed by the tool from ${where}: ${JSON.stringify(result.risk)}`,
      ];
      if (result.whatIf) {
        const given = result.whatIf.overridden
          .map((o) => `${o.field} ${JSON.stringify(o.given)} (computed ${JSON.stringify(o.computed)})`)
          .join(', ');
        lines.push(
          '',
          `what if:  with the --risk overrides ${given}, not what the gate would decide:`,
          indent(formatDecision(result.whatIf.explanation.decision)),
        );
      }
      return { text: lines.join('\n'), exitCode: POLICY_EXIT[result.explanation.decision.effect] };
    }
    case 'uncomputed': {
      const lines = [
        `decision: unknown: the risk could not be computed, so what the gate would decide is not known here`,
        `reason:   ${result.reason}`,
        result.missing.length > 0
          ? `fields not computed and not given by --risk: ${result.missing.join(', ')}`
          : "every field is given by --risk, so what follows is a what-if, not the gate's decision",
      ];
      if (result.whatIf)
        lines.push(
          '',
          'what if:  with the --risk fields only:',
          indent(formatExplanation(result.whatIf.explanation)),
          `risk:     ${JSON.stringify(result.whatIf.risk)} (all from --risk)`,
        );
      return { text: lines.join('\n'), exitCode: POLICY_EXIT.invalid };
    }
  }
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((l) => `  ${l}`)
    .join('\n');
}

export function policyCommand(deps: PolicyCommandDeps): Command {
  const policy = new Command('policy').description('check policy files and explain decisions');
  const out = (text: string): void => (policy.configureOutput().writeOut ?? ((t) => process.stdout.write(t)))(text);
  const err = (text: string): void => (policy.configureOutput().writeErr ?? ((t) => process.stderr.write(t)))(text);
  const knownNames = (): string[] => deps.tools().map((t) => t.name);

  /** Reports bad policies and bad arguments as exit 2 with the message; anything else is a fault. */
  async function guarded(body: () => Promise<void>): Promise<void> {
    try {
      await body();
    } catch (e) {
      if (!(e instanceof UserError)) throw e;
      err(`${e.message}\n`);
      process.exitCode = POLICY_EXIT.invalid;
    }
  }

  policy
    .command('check')
    .description(
      `validate policy files as one set (syntax, CEL, fields, tool names, roles); exit 0 if valid, ${POLICY_EXIT.invalid} with file:line of each problem if not`,
    )
    .argument('<files...>', 'policy YAML files, in the order they are evaluated')
    .action((files: string[]) =>
      guarded(async () => {
        const set = await loadPolicySet(files, { knownTools: knownNames() });
        for (const file of files) {
          const n = set.rules.filter((r) => r.file === file).length;
          out(`ok: ${file} (${n} rule${n === 1 ? '' : 's'})\n`);
        }
      }),
    );

  policy
    .command('explain')
    .description(
      'show the decision the gate would give a tool call: the risk computed by the tool from the current state, the rule that decided, and why each earlier rule did not match',
    )
    .requiredOption('--tool <name>', 'tool name, e.g. deploy_canary')
    .option(
      '--input <json>',
      "tool arguments as a JSON object (checked by the tool's schema, as the gate does)",
      parseJsonObject('--input'),
      {},
    )
    .option('--principal <id>', 'who asks', 'user:operator')
    .option('--roles <list>', "extra roles of the principal, comma-separated (joined with the policy's roles: map)")
    .option(
      '--risk <json>',
      'what-if: risk fields to try in place of the computed ones (shown beside the real decision, never instead of it)',
      parseJsonObject('--risk'),
    )
    .option(
      '--home <dir>',
      "the agent's data directory whose lab gives the current state (default: the configured home, MLOPS_AGENT_HOME)",
    )
    .option('--file <path>', 'policy file; repeat for several (default: the configured policy files)', collect)
    .addHelpText(
      'after',
      `
Risk: computed exactly as the gate computes it, by the tool's own risk assessment over the
current state: the lab under the data directory, opened read-only (nothing is changed, a
running serve is not disturbed). The risk used is printed. --risk values are what-ifs: the
decision they would give is shown beside the gate's, and never decides the exit code.
When the risk cannot be computed (the lab cannot be read), the gate's decision is not
known here: the command says why and which fields are missing, and exits ${POLICY_EXIT.invalid}.
A call whose arguments are invalid, or that names a model or version that does not exist,
is not judged by the policy at all (the gate answers it as a tool error): exit ${POLICY_EXIT.invalid}.

Exit codes: ${POLICY_EXIT.allow} allow, ${POLICY_EXIT.deny} deny, ${POLICY_EXIT.require_approval} require_approval, ${POLICY_EXIT.invalid} invalid policy or arguments, not judged, or risk not computed.

Example:
  mlops-agent policy explain --tool deploy_canary \\
    --input '{"model":"credit-risk","version":"2","environment":"production","trafficPercent":25}'
  mlops-agent policy explain --tool trigger_retrain --input '{"model":"credit-risk","dataset":"credit-recent"}' \\
    --risk '{"data":{"dataset":"credit-recent","checked":true,"passed":false,"failedChecks":["income.range"]}}'
`,
    )
    .action(
      (options: {
        tool: string;
        input: Record<string, unknown>;
        principal: string;
        roles?: string;
        risk?: Record<string, unknown>;
        home?: string;
        file?: string[];
      }) =>
        guarded(async () => {
          const tools = deps.tools();
          const tool = tools.find((t) => t.name === options.tool);
          if (!tool) {
            throw new UserError(
              `unknown tool "${options.tool}"; known tools are: ${tools.map((t) => t.name).join(', ')}`,
            );
          }
          const overrides = parseRiskOverrides(options.risk ?? {});
          const roles = (options.roles ?? '')
            .split(',')
            .map((r) => r.trim())
            .filter((r) => r !== '');
          const files = options.file ?? deps.defaultFiles();
          const set = await loadPolicySet(files, { knownTools: tools.map((t) => t.name) });
          const state = await deps.openState(options.home);
          try {
            const result = await explainCall({
              tool,
              input: options.input,
              principal: { id: options.principal, roles },
              set,
              state,
              overrides,
            });
            const { text, exitCode } = formatExplainedCall(result, state.where);
            out(`${text}\n`);
            process.exitCode = exitCode;
          } finally {
            await state.close();
          }
        }),
    );

  return policy;
}
