// Starts train-worker in a worker thread, from the compiled .js beside this module or, when
// running from TypeScript sources (vitest, tsx), from the .ts file through tsx's loader.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { TrainingInput } from './training-pipeline.js';

/**
 * Node 20 does not apply `--import tsx` from a worker's execArgv to the worker's entry
 * module, so for sources the worker boots from a tiny ES module that registers tsx's
 * loader in the thread and then imports train-worker.ts.
 */
function tsxBootstrap(workerUrl: URL): URL {
  const require = createRequire(import.meta.url);
  const tsxRoot = dirname(require.resolve('tsx/package.json'));
  // The ESM build of tsx's API: its CommonJS build cannot load .ts files as ES modules.
  const api = pathToFileURL(join(tsxRoot, 'dist', 'esm', 'api', 'index.mjs')).href;
  const code = `const { register } = await import(${JSON.stringify(api)});\nregister();\nawait import(${JSON.stringify(workerUrl.href)});\n`;
  return new URL(`data:text/javascript,${encodeURIComponent(code)}`);
}

export function startTrainWorker(input: TrainingInput, moduleUrl: string = import.meta.url): Worker {
  const fromSources = new URL(moduleUrl).pathname.endsWith('.ts');
  const workerUrl = new URL(fromSources ? './train-worker.ts' : './train-worker.js', moduleUrl);
  return new Worker(fromSources ? tsxBootstrap(workerUrl) : workerUrl, { workerData: input });
}
