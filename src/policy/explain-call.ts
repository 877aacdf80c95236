// What the gate would decide about one tool call, for `policy explain`: the arguments
// checked by the tool's schema, the risk computed by the tool's own assessRisk from the
// current state (the gate's code path), the decision worded as the gate words it.
// Overrides are a what-if beside that decision, never in its place: an explanation never
// says `allow` for a call the gate would park or deny.
import { NO_DATA_RISK, NO_RISK, type AnyTool, type Backends, type DataRisk, type Risk } from '../../tools/index.js';
import { describeError, isNotFound, UserError } from '../errors.js';
import { describeValidation } from '../validation.js';
import { explainedDecision, policyRequestFor } from './call-request.js';
import type { Explanation, PolicyPrincipal, PolicySet } from './types.js';

export const RISK_FIELDS = Object.keys(NO_RISK) as (keyof Risk)[];

export interface ExplainCallRequest {
  tool: AnyTool;
  input: Record<string, unknown>;
  principal: PolicyPrincipal;
  set: PolicySet;
  /** The state risk is computed from (a read-only lab), and where it is, for messages. */
  state: { backends: Backends; where: string };
  /** `--risk`: fields to try in place of the computed ones. */
  overrides: Partial<Risk>;
}

export type ExplainedCall =
  /** The gate would not ask the policy: the arguments are invalid, or name nothing that exists. */
  | { kind: 'not_judged'; reason: string }
  /** The gate's decision, from the computed risk; with overrides, what they would change. */
  | {
      kind: 'decided';
      explanation: Explanation;
      risk: Risk;
      whatIf: {
        explanation: Explanation;
        risk: Risk;
        overridden: { field: keyof Risk; given: unknown; computed: unknown }[];
      } | null;
    }
  /** The risk could not be computed, so the gate's decision is unknown; a what-if when --risk gives every field. */
  | {
      kind: 'uncomputed';
      reason: string;
      missing: (keyof Risk)[];
      whatIf: { explanation: Explanation; risk: Risk } | null;
    };

/** `--risk` fields, each of the type the tools fill it with. */
export function parseRiskOverrides(given: Record<string, unknown>): Partial<Risk> {
  const overrides: Record<string, unknown> = { ...given };
  for (const [key, value] of Object.entries(given)) {
    if (key === 'data') {
      overrides.data = dataRiskFromFlag(value);
      continue;
    }
    if (!RISK_FIELDS.includes(key as keyof Risk))
      throw new UserError(`--risk has unknown field "${key}"; fields are: ${RISK_FIELDS.join(', ')}`);
    const expected = Array.isArray(NO_RISK[key as keyof Risk]) ? 'array' : typeof NO_RISK[key as keyof Risk];
    const actual = Array.isArray(value) ? 'array' : typeof value;
    if (
      expected !== actual ||
      (key === 'environment' && !['staging', 'production', 'none'].includes(value as string))
    ) {
      const hint =
        key === 'environment'
          ? 'staging, production or none'
          : expected === 'array'
            ? 'a list of gate names'
            : `a ${expected}`;
      throw new UserError(`--risk field "${key}" must be ${hint}; got ${JSON.stringify(value)}`);
    }
  }
  return overrides as Partial<Risk>;
}

/** --risk '{"data":{...}}': the given fields over "no data involved", each of its type. */
function dataRiskFromFlag(value: unknown): DataRisk {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new UserError(
      `--risk field "data" must be an object with fields ${Object.keys(NO_DATA_RISK).join(', ')}; got ${JSON.stringify(value)}`,
    );
  }
  const data: Record<string, unknown> = { ...NO_DATA_RISK };
  for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
    const model = NO_DATA_RISK[key as keyof DataRisk];
    if (model === undefined)
      throw new UserError(
        `--risk field "data" has unknown field "${key}"; fields are: ${Object.keys(NO_DATA_RISK).join(', ')}`,
      );
    const ok = Array.isArray(model)
      ? Array.isArray(v) && v.every((x) => typeof x === 'string')
      : model === null
        ? v === null || typeof v === 'string'
        : typeof v === typeof model;
    if (!ok)
      throw new UserError(
        `--risk field "data.${key}" must be ${Array.isArray(model) ? 'a list of rule ids' : model === null ? 'a string or null' : `a ${typeof model}`}; got ${JSON.stringify(v)}`,
      );
    data[key] = v;
  }
  return data as unknown as DataRisk;
}

function explain(req: ExplainCallRequest, args: Record<string, unknown>, risk: Risk): Explanation {
  const explanation = req.set.explain(policyRequestFor(req.tool, args, req.principal, risk));
  return { ...explanation, decision: explainedDecision(explanation.decision, risk) };
}

export async function explainCall(req: ExplainCallRequest): Promise<ExplainedCall> {
  const parsed = req.tool.input.safeParse(req.input);
  if (!parsed.success) {
    return {
      kind: 'not_judged',
      reason: `invalid arguments for ${req.tool.name}: ${describeValidation(parsed.error, '(arguments)')} (the gate refuses such a call before asking the policy)`,
    };
  }
  const args = parsed.data as Record<string, unknown>;
  let computed: Risk;
  try {
    computed = await req.tool.assessRisk(args, {
      backends: req.state.backends,
      principal: req.principal.id,
      idempotencyKey: 'policy-explain',
    });
  } catch (err) {
    if (isNotFound(err)) {
      const reason = `not found in ${req.state.where}: ${describeError(err)} (the gate answers such a call as a tool error, before asking the policy; if that is not the agent's data directory, point --home or MLOPS_AGENT_HOME at it)`;
      return { kind: 'not_judged', reason };
    }
    const missing = RISK_FIELDS.filter((f) => !(f in req.overrides));
    const full = missing.length === 0 ? ({ ...NO_RISK, ...req.overrides } as Risk) : null;
    return {
      kind: 'uncomputed',
      reason: `${req.tool.name} could not compute its risk from ${req.state.where}: ${describeError(err)} (the gate would deny the call for that)`,
      missing,
      whatIf: full ? { explanation: explain(req, args, full), risk: full } : null,
    };
  }
  const explanation = explain(req, args, computed);
  const overridden = (Object.keys(req.overrides) as (keyof Risk)[]).map((field) => ({
    field,
    given: req.overrides[field],
    computed: computed[field],
  }));
  if (overridden.length === 0) return { kind: 'decided', explanation, risk: computed, whatIf: null };
  const risk = { ...computed, ...req.overrides } as Risk;
  return {
    kind: 'decided',
    explanation,
    risk: computed,
    whatIf: { explanation: explain(req, args, risk), risk, overridden },
  };
}
