// The runtime: the audit log, policy, gate, planners and agent built from one config and a
// set of backends. The app's builders (app.ts) call it for every role.
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { allTools, type Backends } from '../../tools/index.js';
import {
  createApprovals,
  pendingApprovalsFrom,
  stateFromTools,
  type ApprovalNotifier,
  type Approvals,
  type ApprovalStore,
} from '../approvals/index.js';
import { createAgent, type Agent } from '../agent/loop.js';
import type { JoinedNotice } from '../agent/joined-triggers.js';
import type { Planner, TranscriptItem } from '../agent/planner.js';
import type { Run, Trigger } from '../agent/run.js';
import type { RunStore } from '../agent/run-store.js';
import { openAuditLog, type AuditEntryInput, type AuditLog } from '../audit/index.js';
import { systemClock, type Clock } from '../clock.js';
import type { Config } from './config.js';
import { UserError } from '../errors.js';
import { scheduleRunbook } from '../intake/index.js';
import {
  createPlannerFromConfig,
  createRunbookPlanner,
  resolveProvider,
  withCircuitBreaker,
  type CircuitReport,
} from '../planners/index.js';
import { loadRunbooks, mitigationSteps, runbookFor, type Runbook } from '../runbooks/index.js';
import { toolSpecs } from '../../tools/tool-schema.js';
import type { Logger } from '../logger.js';
import { createGate, type Executions, type Gate } from '../gate/index.js';
import { createPolicyStore, type PolicyStore } from '../policy/index.js';
import { promptsDir } from '../paths.js';
import { preparePrivateHome } from '../private-home.js';
import { openApprovalStore, openExecutions, openRunStore } from './stores.js';

export interface RuntimeOptions {
  config: Config;
  logger: Logger;
  backends: Backends;
  clock?: Clock;
  /** Where approvals are kept; default as the config says (see stores.ts). */
  approvalStore?: ApprovalStore;
  /** Which calls with side effects were taken for execution; default as the config says. */
  executions?: Executions;
  /** Channels that announce approvals (Slack). */
  notifiers?: ApprovalNotifier[];
  onEvent?: (run: Run, item: TranscriptItem) => void;
  /** Where runs are kept; default as the config says. */
  runs?: RunStore;
  /** The run queue's record of triggers that joined a run; the loop reads it between steps. */
  joined?: (runId: string, from: number) => Promise<JoinedNotice[]>;
  /** Sees every entry the gate and the loop wrote, once it is durable, and how long that took (for /metrics). */
  onAudit?: (entry: AuditEntryInput, seconds: number) => void;
  /**
   * `park`: a run waiting for a long-running call (training, a canary) parks and frees its
   * worker; a sweep resumes it (serve, worker). Default `in_process`: the run waits where it
   * runs, for commands that run one run and then exit (chat, demo).
   */
  longWaits?: 'park' | 'in_process';
  /** The LLM planner to plan with instead of the one the config names (the eval harness's scripted planners). */
  llm?: Planner;
}

export interface Runtime {
  config: Config;
  audit: AuditLog;
  policy: PolicyStore;
  gate: Gate;
  agent: Agent;
  runs: RunStore;
  approvals: Approvals;
  runbooks: Runbook[];
  /** The configured LLM planner, or null when runbooks are all there is. */
  llm: Planner | null;
  /** The LLM planner's circuit breaker as it stands (empty without an LLM), for /readyz and /metrics. */
  circuits(): CircuitReport[];
  close(): Promise<void>;
}

/** Exactly how to give the agent a model, for messages where one is needed. */
export const HOW_TO_CONFIGURE_LLM = [
  'No LLM is configured. Either:',
  '  export GEMINI_API_KEY=...            # a Gemini API key (https://aistudio.google.com/apikey)',
  '  export GEMINI_MODEL=gemini-2.5-flash  # optional',
  'or point the agent at a local OpenAI-compatible server (Ollama, vLLM):',
  '  export OPENAI_BASE_URL=http://127.0.0.1:11434/v1',
  '  export OPENAI_MODEL=llama3.1',
].join('\n');

/** The configured LLM planner, or null when none is configured (runbooks only). */
export function createLlmPlanner(llm: Config['llm'], logger: Logger): Planner | null {
  if (resolveProvider(llm) === 'runbook') return null;
  return createPlannerFromConfig(llm, {
    logger,
    runbookPlanner: () => {
      throw new Error('unreachable: the runbook provider was handled above');
    },
  });
}

/** For triggers nothing can plan for: the run ends at once needing a person, saying why, instead of guessing. */
function unplannable(trigger: Trigger): Planner {
  const text =
    trigger.kind === 'alert'
      ? `No runbook answers alert "${trigger.alertName ?? '(unnamed)'}" and no LLM is configured, so nothing was done. Add a runbook to prompts/runbooks/ or configure an LLM.\n${HOW_TO_CONFIGURE_LLM}`
      : `A ${trigger.kind} run needs an LLM to plan; nothing was done.\n${HOW_TO_CONFIGURE_LLM}`;
  return {
    name: 'none',
    next: async () => ({ kind: 'answer', text, usage: { input: 0, output: 0 }, ends: 'needs_attention' }),
  };
}

/** The runbook a schedule names must exist; without one, only an LLM can plan its runs. */
function checkSchedules(config: Config, runbooks: readonly Runbook[], llm: Planner | null): void {
  config.schedules.forEach((s, i) => {
    if (s.runbook && !runbooks.some((rb) => rb.id === s.runbook)) {
      throw new UserError(
        `schedules.${i}.runbook: no runbook "${s.runbook}" in prompts/runbooks (known: ${runbooks.map((rb) => rb.id).join(', ')})`,
        { code: 'config_invalid' },
      );
    }
    if (!s.runbook && !llm) {
      throw new UserError(
        `schedules.${i} ("${s.name}") names no runbook and no LLM is configured, so nothing could plan its runs: set schedules.${i}.runbook or configure an LLM`,
        { code: 'config_invalid' },
      );
    }
  });
}

/** The audit log as the gate and the loop see it: each durable entry is also shown to `observe`. */
function observed(
  audit: AuditLog,
  observe: ((entry: AuditEntryInput, seconds: number) => void) | undefined,
  logger: Logger,
): AuditLog['append'] {
  if (!observe) return (entry) => audit.append(entry);
  return async (entry) => {
    const started = performance.now();
    const written = await audit.append(entry);
    try {
      observe(entry, (performance.now() - started) / 1000);
    } catch (err) {
      logger.warn({ err, kind: entry.kind }, 'an audit observer failed; the entry is written');
    }
    return written;
  };
}

export async function createRuntime(options: RuntimeOptions): Promise<Runtime> {
  const { config, logger, backends } = options;
  const clock = options.clock ?? systemClock;
  const toolNames = allTools.map((t) => t.name);
  // Checked before the audit log is opened, so a refused config leaves no writer lock held.
  const runbooks = await loadRunbooks(join(promptsDir, 'runbooks'), toolNames);
  const llm = options.llm ?? createLlmPlanner(config.llm, logger);
  checkSchedules(config, runbooks, llm);
  await preparePrivateHome(config.home, logger);
  // The file log, or the chain in PostgreSQL that every process shares (audit.store).
  const audit = await openAuditLog(config, { clock, logger });
  if (audit.recovered)
    logger.warn({ recovered: audit.recovered }, 'the audit log had a torn last line; it was set aside');
  const policy = await createPolicyStore({
    files: config.policy.files,
    shadowFiles: config.policy.shadowFiles,
    knownTools: toolNames,
  });
  const appender = { append: observed(audit, options.onAudit, logger) };
  // After repeated failures alert runs go straight to their runbook for a cool-down; each switch is audited.
  const guarded = llm
    ? withCircuitBreaker(llm, {
        failures: config.llm.breakerFailures,
        coolDownMs: config.llm.breakerCoolDownMs,
        clock,
        onChange: ({ state, report }) => {
          if (state === 'open')
            logger.warn(
              { circuit: report },
              'LLM circuit breaker open: alert runs go straight to their runbook until it cools down',
            );
          else logger.info({ circuit: report }, 'LLM circuit breaker closed: the LLM answered again');
          appender
            .append({
              runId: null,
              principal: 'mlops-agent',
              kind: `planner.circuit_${state === 'open' ? 'opened' : 'closed'}`,
              data: { ...report },
            })
            .catch((err: unknown) => logger.error({ err }, 'could not audit a circuit breaker change'));
        },
      })
    : null;
  // Stores not handed in are opened as the config says (Redis or files) and closed with the runtime.
  const approvalStore = options.approvalStore ?? openApprovalStore(config);
  const approvals = createApprovals({
    store: approvalStore,
    audit: appender,
    rolesOf: (id) => policy.current().rolesOf(id),
    stateOf: stateFromTools(allTools, backends),
    clock,
    logger,
    notifiers: options.notifiers ?? [],
  });
  const executions = options.executions ?? openExecutions(config);
  // The serving view lists the approvals pending on a model: the tools see them beside the backends.
  const toolBackends: Backends = { ...backends, approvals: pendingApprovalsFrom((filter) => approvals.list(filter)) };
  const gate = createGate({
    tools: allTools,
    backends: toolBackends,
    policy: (req) => policy.evaluate(req),
    audit: appender,
    logger,
    approvals,
    executions,
    clock,
  });
  const ownRuns = options.runs ? null : openRunStore(config);
  const runs = options.runs ?? ownRuns!;
  const basePrompt = readFileSync(join(promptsDir, 'system.md'), 'utf8');

  const runbookPlanners = new Map(runbooks.map((rb) => [rb.id, createRunbookPlanner(rb)]));
  // An alert's runbook answers its name; a schedule names its runbook in the config.
  const fallbackFor = (trigger: Trigger): Planner | null => {
    if (trigger.kind === 'alert') {
      const rb = runbookFor(runbooks, trigger.alertName);
      return rb ? runbookPlanners.get(rb.id)! : null;
    }
    const id = scheduleRunbook(trigger);
    return (id && runbookPlanners.get(id)) || null;
  };
  // An alert whose runbook has mitigation steps gets them first, whichever planner goes on.
  const mitigations = new Map(
    runbooks.flatMap((rb) => {
      const steps = mitigationSteps(rb);
      return steps
        ? [
            [
              rb.id,
              { runbook: rb.id, planner: createRunbookPlanner(steps, { name: `runbook:${rb.id}:mitigation` }) },
            ] as const,
          ]
        : [];
    }),
  );
  const mitigationFor = (trigger: Trigger) =>
    trigger.kind === 'alert' ? (mitigations.get(runbookFor(runbooks, trigger.alertName)?.id ?? '') ?? null) : null;
  // The runbook's guidance goes to the LLM too, so both planners work from the same procedure.
  const guidance = runbooks
    .map((rb) => `## Runbook ${rb.id}: ${rb.title} (alerts: ${rb.alerts.join(', ')})\n\n${rb.guidance}`)
    .join('\n\n');
  const systemPrompt = `${basePrompt}\n\n# Runbooks\n\n${guidance}`;

  const agent = createAgent({
    gate,
    audit: appender,
    runs,
    tools: toolSpecs(allTools),
    systemPrompt,
    plannerFor: (trigger) => guarded ?? fallbackFor(trigger) ?? unplannable(trigger),
    fallbackFor,
    mitigationFor,
    limits: config.loop,
    approvals,
    clock,
    logger,
    ...(options.onEvent ? { onEvent: options.onEvent } : {}),
    ...(options.joined ? { joined: options.joined } : {}),
    readOnlyTools: allTools.filter((t) => t.annotations.readOnly).map((t) => t.name),
    onceOnlyTools: allTools.filter((t) => !t.annotations.readOnly && !t.annotations.idempotent).map((t) => t.name),
    longWaits: options.longWaits ?? 'in_process',
  });

  return {
    config,
    audit,
    policy,
    gate,
    agent,
    runs,
    approvals,
    runbooks,
    llm,
    circuits: () => (guarded ? [guarded.circuit()] : []),
    async close() {
      if (!options.approvalStore) await approvalStore.close();
      if (!options.executions) await executions.close();
      await ownRuns?.close();
      await audit.close();
    },
  };
}
