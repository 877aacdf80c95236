// `mlops-agent contracts check`: validate data contract edits before they go live, as
// `policy check` does for policies (a broken contract also stops serve and worker at start).
import { Command } from 'commander';
import { loadContracts } from '../contracts/index.js';
import { UserError } from '../errors.js';
import { EXIT } from './exit-codes.js';

export function contractsCommand(deps: { defaultFiles: () => string[] }): Command {
  const contracts = new Command('contracts').description('check data contract files (contracts/*.yaml)');
  const out = (text: string): void => (contracts.configureOutput().writeOut ?? ((t) => process.stdout.write(t)))(text);
  const err = (text: string): void => (contracts.configureOutput().writeErr ?? ((t) => process.stderr.write(t)))(text);
  contracts
    .command('check')
    .description(
      `validate data contract files as one set (YAML, fields, types, CEL rules, durations, unique ids and names); exit 0 if valid, ${EXIT.usage} with file:line of each problem if not`,
    )
    .argument('[files...]', 'contract YAML files (default: the configured contracts.files)')
    .action(async (files: string[]) => {
      const list = files.length > 0 ? files : deps.defaultFiles();
      try {
        const set = await loadContracts(list);
        for (const c of set.contracts) {
          const rules =
            c.columns.length +
            c.unique.length +
            c.gaps.length +
            c.rules.length +
            (c.rows ? 1 : 0) +
            (c.freshness ? 1 : 0);
          out(
            `ok: ${c.file} (contract "${c.name}" for ${c.datasets.join(', ')}: ${c.columns.length} columns, ${c.rules.length} row rule(s), ${rules} checks in all)\n`,
          );
        }
      } catch (e) {
        if (!(e instanceof UserError)) throw e;
        err(`${e.message}\n`);
        process.exitCode = EXIT.usage;
      }
    });
  return contracts;
}
