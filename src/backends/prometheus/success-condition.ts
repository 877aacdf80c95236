// An analysis metric's successCondition: CEL over `result`, compiled once when the
// settings load. cel-es returns errors as values: anything but true or false is a failure.
import { celEnv, CelScalar, isCelError, parse, plan } from '@bufbuild/cel';
import { strings } from '@bufbuild/cel/ext';
import { UserError } from '../../errors.js';

const env = celEnv({ funcs: strings, variables: { result: CelScalar.DYN } });

type Planned = (bindings: { result: unknown }) => unknown;

export type ConditionOutcome = { ok: true; value: boolean } | { ok: false; error: string };

export function compileSuccessCondition(source: string, metric: string): (result: unknown) => ConditionOutcome {
  let run: Planned;
  try {
    run = plan(env, parse(source)) as Planned;
  } catch (err) {
    throw new UserError(
      `analysis metric "${metric}": successCondition ${JSON.stringify(source)} is not valid CEL: ${(err as Error).message}`,
      { code: 'config_invalid' },
    );
  }
  return (result) => {
    let value: unknown;
    try {
      // cel-es reads JS arrays of numbers as lists of doubles.
      value = run({ result });
    } catch (err) {
      return { ok: false, error: (err as Error).message };
    }
    if (isCelError(value)) return { ok: false, error: value.message };
    if (typeof value !== 'boolean')
      return { ok: false, error: `successCondition returned ${String(value)} instead of true or false` };
    return { ok: true, value };
  };
}
