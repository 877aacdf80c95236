// The harness's one door to the agent's composition root (src/runtime.ts, src/config.ts):
// every scenario's runtime is built here, as `mlops-agent serve` builds its own, over a
// fresh local lab with the lab's quick settings. When the composition root moves, only
// the imports of this file change.
import type { Planner } from '../../../src/agent/planner.js';
import { openLocalLab, type LocalLab } from '../../../src/backends/local/index.js';
import type { Clock } from '../../../src/clock.js';
import { loadConfig, type Config } from '../../../src/app/config.js';
import type { AuditEntryInput } from '../../../src/audit/index.js';
import { silentLogger } from '../../../src/logger.js';
import { createRuntime, type Runtime, type RuntimeOptions } from '../../../src/app/runtime.js';

export type { Runtime } from '../../../src/app/runtime.js';
export type { Config } from '../../../src/app/config.js';

/** What the configured LLM is, as the config reads the environment (GEMINI_API_KEY, OPENAI_BASE_URL). */
export type LlmChoice =
  { kind: 'runbook' } | { kind: 'scripted'; planner: Planner } | { kind: 'gemini' | 'openai'; env: NodeJS.ProcessEnv };

export interface EvalRuntime {
  config: Config;
  lab: LocalLab;
  runtime: Runtime;
  close(): Promise<void>;
}

/**
 * Canary analysis fast enough for a scenario: a step is judged on 20 requests, or after
 * 4 s with what it got (a canary with no traffic pauses "too little traffic").
 */
const QUICK_ANALYSIS = { minRequestsPerStep: 20, minLabelsPerStep: 20, stepTimeoutMs: 4_000 };

export function evalConfig(home: string, llm: LlmChoice): Config {
  const env: Record<string, string | undefined> = {
    MLOPS_AGENT_HOME: home,
    MLOPS_AGENT_LOG_LEVEL: 'silent',
    MLOPS_AGENT_LLM: 'runbook',
  };
  if (llm.kind === 'gemini' || llm.kind === 'openai') {
    env.MLOPS_AGENT_LLM = llm.kind;
    for (const key of [
      'GEMINI_API_KEY',
      'GEMINI_MODEL',
      'GEMINI_BASE_URL',
      'OPENAI_BASE_URL',
      'OPENAI_API_KEY',
      'OPENAI_MODEL',
    ])
      env[key] = llm.env[key];
  }
  return loadConfig({ env: env as NodeJS.ProcessEnv, cwd: home });
}

/** Opens the lab under `home` and the runtime over it; `onAudit` sees each durable entry. */
export async function openEvalRuntime(options: {
  home: string;
  llm: LlmChoice;
  clock: Clock;
  joined?: RuntimeOptions['joined'];
  onAudit?: (entry: AuditEntryInput) => void;
  wrapBackends?: (lab: LocalLab) => LocalLab;
}): Promise<EvalRuntime> {
  const config = evalConfig(options.home, options.llm);
  const lab = await openLocalLab({
    config,
    logger: silentLogger,
    clock: options.clock,
    steps: [5, 25, 100],
    analysis: QUICK_ANALYSIS,
  });
  try {
    const runtime = await createRuntime({
      config,
      logger: silentLogger,
      backends: options.wrapBackends ? options.wrapBackends(lab) : lab,
      clock: options.clock,
      ...(options.llm.kind === 'scripted' ? { llm: options.llm.planner } : {}),
      ...(options.joined ? { joined: options.joined } : {}),
      ...(options.onAudit ? { onAudit: options.onAudit } : {}),
    });
    return {
      config,
      lab,
      runtime,
      async close() {
        await runtime.close();
        await lab.close();
      },
    };
  } catch (err) {
    await lab.close();
    throw err;
  }
}
