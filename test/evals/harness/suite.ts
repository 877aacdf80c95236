// Runs the scenarios for each planner asked for and collects one result per run: pass or
// fail with the first failed assertion, tool calls, tokens, time to first mitigation.
import { expectationsFor, type Scenario } from './scenario.js';
import { grade, type Grade } from './grade.js';
import { makeTemplateHome, removeHome } from './lab-state.js';
import { runScenario, type PlannerChoice } from './run-scenario.js';

export interface ScenarioResult {
  scenario: string;
  title: string;
  planner: PlannerChoice;
  /** The scripted planner's name, for scripted runs. */
  script: string | null;
  repeat: number;
  passed: boolean;
  grades: Grade[];
  toolCalls: number;
  tokensIn: number;
  tokensOut: number;
  /** Trigger to the first side effect started, or null when none was. */
  mitigationMs: number | null;
  durationMs: number;
  runStatuses: string[];
}

export interface SuiteReport {
  startedAt: string;
  results: ScenarioResult[];
  /** Planners that were asked for and could not run, with why. */
  skipped: { planner: PlannerChoice; reason: string }[];
}

/** Whether the scenario is graded with this planner (`llm` scenarios run with gemini and openai). */
export function gradedWith(s: Scenario, planner: PlannerChoice): boolean {
  return planner === 'gemini' || planner === 'openai' ? s.planners.includes('llm') : s.planners.includes(planner);
}

/** Why an LLM planner cannot run here, or null when it is configured. */
export function llmUnavailable(planner: PlannerChoice, env: NodeJS.ProcessEnv): string | null {
  if (planner === 'gemini' && !env.GEMINI_API_KEY)
    return 'skipped: GEMINI_API_KEY is not set (export it to grade Gemini)';
  if (planner === 'openai' && !env.OPENAI_BASE_URL)
    return 'skipped: OPENAI_BASE_URL is not set (point it at an OpenAI-compatible endpoint, e.g. http://127.0.0.1:11434/v1 for Ollama, and set OPENAI_MODEL)';
  return null;
}

export async function runSuite(options: {
  scenarios: Scenario[];
  planners: PlannerChoice[];
  repeat: number;
  env: NodeJS.ProcessEnv;
  onResult?: (r: ScenarioResult) => void;
}): Promise<SuiteReport> {
  const report: SuiteReport = { startedAt: new Date().toISOString(), results: [], skipped: [] };
  // The champion is trained once, when the first scenario needs it.
  let template: string | null = null;
  try {
    for (const planner of options.planners) {
      const unavailable = llmUnavailable(planner, options.env);
      if (unavailable) {
        report.skipped.push({ planner, reason: unavailable });
        continue;
      }
      for (const scenario of options.scenarios.filter((s) => gradedWith(s, planner))) {
        for (let repeat = 1; repeat <= options.repeat; repeat++) {
          const t0 = Date.now();
          template ??= await makeTemplateHome();
          const outcome = await runScenario(scenario, planner, template);
          if (options.env.EVAL_DEBUG)
            process.stderr.write(
              `${JSON.stringify({ scenario: scenario.name, runs: outcome.runs.map((r) => ({ status: r.status, answer: r.answer, flags: r.flags, transcript: r.transcript.filter((i) => i.kind !== 'trigger') })), approvals: outcome.approvals.map((a) => [a.tool, a.status]), history: outcome.history, mcp: outcome.mcp }, null, 1)}\n`,
            );
          const grades = grade(
            outcome,
            expectationsFor(scenario, planner === 'gemini' || planner === 'openai' ? 'llm' : planner),
          );
          const result: ScenarioResult = {
            scenario: scenario.name,
            title: scenario.title,
            planner,
            script: planner === 'scripted' ? (scenario.script ?? null) : null,
            repeat,
            passed: grades.every((g) => g.passed),
            grades,
            toolCalls:
              outcome.runs.reduce((n, r) => n + r.transcript.filter((i) => i.kind === 'result').length, 0) +
              outcome.mcp.length,
            tokensIn: outcome.runs.reduce((n, r) => n + r.usage.input, 0),
            tokensOut: outcome.runs.reduce((n, r) => n + r.usage.output, 0),
            mitigationMs:
              outcome.firstEffectAt !== null && outcome.triggeredAt > 0
                ? outcome.firstEffectAt - outcome.triggeredAt
                : null,
            durationMs: Date.now() - t0,
            runStatuses: outcome.runs.map((r) => r.status),
          };
          report.results.push(result);
          options.onResult?.(result);
        }
      }
    }
  } finally {
    if (template) await removeHome(template);
  }
  return report;
}
