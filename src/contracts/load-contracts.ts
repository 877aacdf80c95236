// Reads the configured data contract files into one ContractSet, or refuses them all with
// every problem's file and line, as policy files are refused: nothing is half-loaded.
import { readFile } from 'node:fs/promises';
import { UserError } from '../errors.js';
import type { PolicyIssue } from '../policy/yaml-nodes.js';
import { parseContractFile } from './contract-file.js';
import type { ContractSet, DataContract } from './types.js';

/** A contract file that cannot be used; `issues` lists each problem with its file and line. */
export class ContractInvalidError extends UserError {
  constructor(readonly issues: PolicyIssue[]) {
    const lines = issues.map((i) => `${i.file}:${i.line}: ${i.message}`);
    const head =
      issues.length === 1 ? 'data contract is invalid' : `data contracts are invalid (${issues.length} problems)`;
    super(`${head}:\n  ${lines.join('\n  ')}`, { code: 'contract_invalid' });
  }
}

function patternMatches(pattern: string, name: string): boolean {
  const regex = new RegExp(
    `^${pattern
      .split('*')
      .map((part) => part.replace(/[.+?^${}()|[\]\\-]/g, '\\$&'))
      .join('.*')}$`,
  );
  return regex.test(name);
}

export function createContractSet(contracts: readonly DataContract[]): ContractSet {
  return {
    contracts,
    files: [...new Set(contracts.map((c) => c.file))],
    forDataset: (dataset) => contracts.find((c) => c.datasets.some((p) => patternMatches(p, dataset))),
  };
}

/** Builds a set from texts in memory (loadContracts reads the files; tests hand odd texts here). */
export function buildContractSet(sources: { file: string; text: string }[]): ContractSet {
  const parsed = sources.map((s) => parseContractFile(s.file, s.text));
  const issues = parsed.flatMap((p) => p.issues);
  const seen = new Map<string, { file: string; line: number }>();
  for (const p of parsed) {
    if (!p.contract) continue;
    const first = seen.get(p.contract.name);
    if (first)
      issues.push({
        file: p.file,
        line: p.nameLine,
        message: `data contract "${p.contract.name}" is also defined at ${first.file}:${first.line}; contract names must be unique`,
      });
    else seen.set(p.contract.name, { file: p.file, line: p.nameLine });
  }
  if (issues.length > 0) throw new ContractInvalidError(issues);
  return createContractSet(parsed.map((p) => p.contract!));
}

export async function loadContracts(files: readonly string[]): Promise<ContractSet> {
  const sources = await Promise.all(
    files.map(async (file) => {
      try {
        return { file, text: await readFile(file, 'utf8') };
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory, not a file' : String(err);
        throw new ContractInvalidError([
          { file, line: 1, message: `cannot read the data contract: ${why} (contracts.files in the config lists it)` },
        ]);
      }
    }),
  );
  return buildContractSet(sources);
}
