// `mlops-agent policy check|explain`: validate policy edits before they go live, and see
// why a call would be allowed, denied or parked for approval.
import { Command, InvalidArgumentError } from 'commander';
import { UserError } from '../errors.js';
import { formatExplanation, loadPolicySet, type PolicyRequest } from '../policy/index.js';
import { NO_DATA_RISK, NO_RISK, type DataRisk, type Risk, type ToolAnnotations } from '../../tools/define-tool.js';

/** Exit codes: 0 allow (or files valid), 2 invalid policy or arguments, 3 deny, 4 require_approval. */
export const POLICY_EXIT = { allow: 0, invalid: 2, deny: 3, require_approval: 4 } as const;

export interface PolicyCommandDeps {
  knownTools: () => { name: string; annotations: ToolAnnotations }[];
  defaultFiles: () => string[];
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

/** --risk over a neutral default; each given field must have the type the tools fill it with. */
export function riskFromFlags(input: Record<string, unknown>, given: Record<string, unknown>): Risk {
  const risk: Record<string, unknown> = { ...NO_RISK, failedQualityGates: [] };
  const env = input.environment;
  if (env === 'staging' || env === 'production') risk.environment = env;
  for (const [key, value] of Object.entries(given)) {
    if (key === 'data') {
      risk.data = dataRiskFromFlag(value);
      continue;
    }
    if (!(key in NO_RISK)) {
      throw new UserError(`--risk has unknown field "${key}"; fields are: ${Object.keys(NO_RISK).join(', ')}`);
    }
    const expected = Array.isArray(NO_RISK[key as keyof Risk]) ? 'array' : typeof NO_RISK[key as keyof Risk];
    const actual = Array.isArray(value) ? 'array' : typeof value;
    if (expected !== actual || (key === 'environment' && !['staging', 'production', 'none'].includes(value as string))) {
      const hint = key === 'environment' ? 'staging, production or none' : expected === 'array' ? 'a list of gate names' : `a ${expected}`;
      throw new UserError(`--risk field "${key}" must be ${hint}; got ${JSON.stringify(value)}`);
    }
    risk[key] = value;
  }
  return risk as unknown as Risk;
}

/** --risk '{"data":{...}}': the given fields over "no data involved", each of its type. */
function dataRiskFromFlag(value: unknown): DataRisk {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new UserError(`--risk field "data" must be an object with fields ${Object.keys(NO_DATA_RISK).join(', ')}; got ${JSON.stringify(value)}`);
  }
  const data: Record<string, unknown> = { ...NO_DATA_RISK };
  for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
    const model = NO_DATA_RISK[key as keyof DataRisk];
    if (model === undefined) throw new UserError(`--risk field "data" has unknown field "${key}"; fields are: ${Object.keys(NO_DATA_RISK).join(', ')}`);
    const ok = Array.isArray(model) ? Array.isArray(v) && v.every((x) => typeof x === 'string') : typeof v === typeof model;
    if (!ok) throw new UserError(`--risk field "data.${key}" must be ${Array.isArray(model) ? 'a list of rule ids' : `a ${typeof model}`}; got ${JSON.stringify(v)}`);
    data[key] = v;
  }
  return data as unknown as DataRisk;
}

export function policyCommand(deps: PolicyCommandDeps): Command {
  const policy = new Command('policy').description('check policy files and explain decisions');
  const out = (text: string): void => (policy.configureOutput().writeOut ?? ((t) => process.stdout.write(t)))(text);
  const err = (text: string): void => (policy.configureOutput().writeErr ?? ((t) => process.stderr.write(t)))(text);
  const knownNames = (): string[] => deps.knownTools().map((t) => t.name);

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
    .description(`validate policy files as one set (syntax, CEL, fields, tool names, roles); exit 0 if valid, ${POLICY_EXIT.invalid} with file:line of each problem if not`)
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
    .description('show the decision the policy would give a tool call, the rule that made it, and why each earlier rule did not match')
    .requiredOption('--tool <name>', 'tool name, e.g. deploy_canary')
    .option('--input <json>', 'tool arguments as a JSON object', parseJsonObject('--input'), {})
    .option('--principal <id>', 'who asks', 'user:operator')
    .option('--roles <list>', 'extra roles of the principal, comma-separated (joined with the policy\'s roles: map)')
    .option('--risk <json>', 'risk figures as a JSON object, merged over a neutral default', parseJsonObject('--risk'))
    .option('--file <path>', 'policy file; repeat for several (default: the configured policy files)', collect)
    .addHelpText(
      'after',
      `
Risk: a real call's risk (traffic share, failed quality gates, ...) is computed by the
tool from the live backends. This command does not reach them: it uses --risk merged
over a neutral default (0% traffic, no failed gates, reversible, no data involved: so
trigger_retrain reads as training on data never checked unless --risk gives "data"), with
the environment taken from input.environment when present. The risk used is printed.

Exit codes: ${POLICY_EXIT.allow} allow, ${POLICY_EXIT.deny} deny, ${POLICY_EXIT.require_approval} require_approval, ${POLICY_EXIT.invalid} invalid policy or arguments.

Example:
  mlops-agent policy explain --tool deploy_canary \\
    --input '{"model":"credit-risk","version":"4","environment":"production","trafficPercent":25}' \\
    --risk '{"trafficPercent":25}'
  mlops-agent policy explain --tool trigger_retrain --input '{"model":"credit-risk","dataset":"credit-recent"}' \\
    --risk '{"data":{"dataset":"credit-recent","checked":true,"passed":false,"failedChecks":["income.range"]}}'
`,
    )
    .action((options: { tool: string; input: Record<string, unknown>; principal: string; roles?: string; risk?: Record<string, unknown>; file?: string[] }) =>
      guarded(async () => {
        const tools = deps.knownTools();
        const tool = tools.find((t) => t.name === options.tool);
        if (!tool) {
          throw new UserError(`unknown tool "${options.tool}"; known tools are: ${tools.map((t) => t.name).join(', ')}`);
        }
        const risk = riskFromFlags(options.input, options.risk ?? {});
        const roles = (options.roles ?? '').split(',').map((r) => r.trim()).filter((r) => r !== '');
        const files = options.file ?? deps.defaultFiles();
        const set = await loadPolicySet(files, { knownTools: tools.map((t) => t.name) });
        const request: PolicyRequest = {
          principal: { id: options.principal, roles },
          tool: { name: tool.name, ...tool.annotations },
          environment: risk.environment,
          input: options.input,
          risk,
        };
        const explanation = set.explain(request);
        out(`${formatExplanation(explanation)}\n`);
        out(`risk used: ${JSON.stringify(risk)}\n`);
        process.exitCode = POLICY_EXIT[explanation.decision.effect];
      }),
    );

  return policy;
}
