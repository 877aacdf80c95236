// Where the package's own files (policies/, contracts/, prompts/) are, whether run from src via tsx
// or from dist after the build.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function findPackageRoot(start: string): string {
  let dir = start;
  for (;;) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && JSON.parse(readFileSync(manifest, 'utf8')).name === 'mlops-agent') return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`cannot find the mlops-agent package root above ${start}`);
    dir = parent;
  }
}

export const packageRoot = findPackageRoot(dirname(fileURLToPath(import.meta.url)));
/** The version in package.json, as `--version` prints it. */
export const packageVersion: string = JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')).version;
export const defaultPolicyDir = join(packageRoot, 'policies');
export const promptsDir = join(packageRoot, 'prompts');
export const defaultContractDir = join(packageRoot, 'contracts');
/** The data contracts the package ships, one per dataset kind of the lab. */
export const defaultContractFiles = [join(defaultContractDir, 'credit.yaml'), join(defaultContractDir, 'quotes.yaml')];
