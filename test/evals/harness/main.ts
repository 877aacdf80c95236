// `npm run eval`: grades the agent's decisions on the incident scenarios in test/evals/.
//   npm run eval -- --planner runbook --planner scripted --filter canary --repeat 3 --json report.json
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { loadScenarios } from './scenario.js';
import { formatReport } from './report.js';
import type { PlannerChoice } from './run-scenario.js';
import { runSuite } from './suite.js';

const PLANNERS: PlannerChoice[] = ['runbook', 'scripted', 'gemini', 'openai'];
const SCENARIO_DIR = join(dirname(fileURLToPath(import.meta.url)), '..');

function planner(value: string, previous: PlannerChoice[] = []): PlannerChoice[] {
  if (!PLANNERS.includes(value as PlannerChoice))
    throw new InvalidArgumentError(`"${value}" is not a planner; use one of ${PLANNERS.join(', ')}`);
  return [...previous, value as PlannerChoice];
}

function positive(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`"${value}" is not a positive whole number`);
  return n;
}

const program = new Command('eval')
  .description('Run the incident scenarios in test/evals/*.yaml against the agent and grade each one.')
  .option(
    '--planner <name>',
    `planner to grade, repeatable: ${PLANNERS.join(', ')} (default: runbook and scripted)`,
    planner,
  )
  .option('--filter <text>', 'only scenarios whose file name contains this text')
  .option('--repeat <n>', 'run each scenario n times (for models whose answers vary)', positive, 1)
  .option('--json <file>', 'also write the full report (every assertion) as JSON to this file')
  .action(async (opts: { planner?: PlannerChoice[]; filter?: string; repeat: number; json?: string }) => {
    const all = await loadScenarios(SCENARIO_DIR);
    const scenarios = opts.filter ? all.filter((s) => s.name.includes(opts.filter!)) : all;
    if (scenarios.length === 0)
      throw new Error(
        `no scenario in ${SCENARIO_DIR} matches --filter "${opts.filter}" (known: ${all.map((s) => s.name).join(', ')})`,
      );
    const planners = opts.planner ?? ['runbook', 'scripted'];
    const started = Date.now();
    const report = await runSuite({
      scenarios,
      planners,
      repeat: opts.repeat,
      env: process.env,
      onResult: (r) =>
        process.stderr.write(
          `  ${r.passed ? 'pass' : 'FAIL'}  ${r.planner} ${r.scenario} (${(r.durationMs / 1000).toFixed(1)} s)\n`,
        ),
    });
    process.stdout.write(`${formatReport(report)}\neval run took ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
    if (opts.json) await writeFile(opts.json, `${JSON.stringify(report, null, 2)}\n`);
    if (report.results.some((r) => !r.passed)) process.exitCode = 1;
  });

program.parseAsync().catch((err: unknown) => {
  process.stderr.write(`eval: ${(err as Error).message}\n`);
  process.exitCode = 2;
});
