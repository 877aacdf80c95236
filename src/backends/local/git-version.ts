// The git commit of the code that trains a model, for lineage. Null when the package is not
// a git checkout (installed from npm, or inside someone else's repository).
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
let cached: Promise<string | null> | undefined;

function findPackageRoot(start: string): string | null {
  for (let dir = start; ; dir = dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest)) {
      try {
        if ((JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === 'mlops-agent') return dir;
      } catch {
        // An unreadable manifest is not ours; keep looking upwards.
      }
    }
    if (dirname(dir) === dir) return null;
  }
}

async function lookUp(root: string): Promise<string | null> {
  try {
    const options = { cwd: root, timeout: 5000 };
    const top = (await run('git', ['rev-parse', '--show-toplevel'], options)).stdout.trim();
    // A package installed inside another project's checkout must not report that project's commit.
    if (realpathSync(top) !== realpathSync(root)) return null;
    const head = (await run('git', ['rev-parse', 'HEAD'], options)).stdout.trim();
    return /^[0-9a-f]{40,64}$/.test(head) ? head : null;
  } catch {
    return null;
  }
}

/** `git rev-parse HEAD` of the package root, looked up once per process. */
export function codeVersion(): Promise<string | null> {
  if (!cached) {
    const root = findPackageRoot(dirname(fileURLToPath(import.meta.url)));
    cached = root ? lookUp(root) : Promise.resolve(null);
  }
  return cached;
}
