// Runs one scenario with one planner on a fresh lab: seeds it, plays the steps through the
// agent's real entry points (HTTP webhook, run queue, MCP server, approvals service), waits
// for the runs to settle, and hands what happened to the grader.
import { allTools } from '../../../tools/index.js';
import type { Run } from '../../../src/agent/run.js';
import { isFinished } from '../../../src/agent/run.js';
import { alertmanagerAlertSchema, fingerprintOf } from '../../../src/intake/index.js';
import { readAuditEntries, verifyAuditFile, type AuditEntry } from '../../../src/audit/index.js';
import {
  createTrafficSimulator,
  readDataset,
  type LocalLab,
  type TrafficSimulator,
} from '../../../src/backends/local/index.js';
import { scheduleFromConfig, firing } from '../../../src/intake/index.js';
import type { Approval } from '../../../src/approvals/index.js';
import { freshHome, removeHome, seedLab } from './lab-state.js';
import { scriptedPlanner } from './planners.js';
import type { LlmChoice } from './runtime.js';
import type { Scenario, Step } from './scenario.js';
import { startService, type Service } from './service.js';

export type PlannerChoice = 'runbook' | 'scripted' | 'gemini' | 'openai';

/** What a scenario left behind, for the grader. */
export interface Outcome {
  runs: Run[];
  /** The audit log from the first step on (the seeding is left out). */
  entries: AuditEntry[];
  /** Wall-clock time each entry became durable, by kind and tool, for the time to first mitigation. */
  firstEffectAt: number | null;
  approvals: Approval[];
  voteRefusals: string[];
  mcp: { isError: boolean; text: string; structured: unknown }[];
  split: { stableVersion: string; canaryVersion: string | null; canaryPercent: number } | null;
  aliases: Record<string, string>;
  history: {
    action: string;
    split: { canaryVersion: string | null; canaryPercent: number; stableVersion: string };
    by: string;
  }[];
  jobs: { jobId: string; dataset: string; idempotencyKey: string | null }[];
  chainOk: boolean;
  chainProblem: string | null;
  triggeredAt: number;
  error: string | null;
}

const READ_ONLY = new Set(allTools.filter((t) => t.annotations.readOnly).map((t) => t.name));
const DURATION = { s: 1_000, m: 60_000, h: 3_600_000 } as const;

/** A clock the scenario can move on (`advance: 5h`): approvals expire without waiting. */
function offsetClock() {
  let offset = 0;
  return { now: () => Date.now() + offset, advance: (ms: number) => void (offset += ms) };
}

function llmFor(planner: PlannerChoice, scenario: Scenario): LlmChoice {
  if (planner === 'runbook') return { kind: 'runbook' };
  if (planner === 'scripted') return { kind: 'scripted', planner: scriptedPlanner(scenario.script!) };
  return { kind: planner, env: process.env };
}

/** Hangs a call after its side effect reached the lab: the process "dies" there. */
function crashAfterEffect(tool: string, onCrash: () => void): (lab: LocalLab) => LocalLab {
  const never = new Promise<never>(() => undefined);
  return (lab) => {
    const after =
      <A extends unknown[], R>(fn: (...args: A) => Promise<R>) =>
      async (...args: A): Promise<R> => {
        await fn(...args);
        onCrash();
        return never;
      };
    if (tool === 'deploy_canary')
      return {
        ...lab,
        deployer: Object.assign(Object.create(lab.deployer), {
          startCanary: after(lab.deployer.startCanary.bind(lab.deployer)),
        }),
      };
    if (tool === 'rollback')
      return {
        ...lab,
        deployer: Object.assign(Object.create(lab.deployer), {
          rollback: after(lab.deployer.rollback.bind(lab.deployer)),
        }),
      };
    return {
      ...lab,
      trainer: Object.assign(Object.create(lab.trainer), { start: after(lab.trainer.start.bind(lab.trainer)) }),
    };
  };
}

/** Alertmanager's v4 webhook for the step's alerts, as Alertmanager would post it. */
function webhook(step: Extract<Step, { alertmanager: unknown }>['alertmanager'], startsAt: string) {
  const alerts = step.alerts.map((a) =>
    alertmanagerAlertSchema.parse({
      status: a.status,
      labels: a.labels,
      annotations: a.annotations,
      startsAt,
      endsAt: a.status === 'resolved' ? new Date().toISOString() : '0001-01-01T00:00:00Z',
      generatorURL: 'http://prometheus.example/graph',
      fingerprint: fingerprintOf(a.labels),
    }),
  );
  const common = Object.fromEntries(
    Object.entries(step.alerts[0]!.labels).filter(([k, v]) => step.alerts.every((a) => a.labels[k] === v)),
  );
  return {
    version: '4',
    groupKey: `{}:{alertname="${common.alertname ?? 'unnamed'}"}`,
    truncatedAlerts: 0,
    status: step.status,
    receiver: 'mlops-agent',
    groupLabels: { alertname: common.alertname ?? 'unnamed' },
    commonLabels: common,
    commonAnnotations: {},
    externalURL: 'http://alertmanager.example',
    alerts,
  };
}

async function settle(
  service: Service,
  runIds: Set<string>,
  crash: { pending: boolean; happened: boolean },
  deadline: number,
): Promise<void> {
  for (;;) {
    if (crash.happened && crash.pending) {
      crash.pending = false;
      await service.crashAndRestart();
    }
    const runs = await Promise.all([...runIds].map((id) => service.current.runtime.runs.get(id)));
    const depth = await service.queue.depth();
    if (depth === 0 && runs.every((r) => r && (isFinished(r.status) || r.status === 'waiting_approval'))) return;
    if (Date.now() > deadline)
      throw new Error(
        `runs did not settle in time: ${runs.map((r) => `${r?.id ?? '?'}=${r?.status ?? 'not stored'}`).join(', ')}`,
      );
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function runScenario(
  scenario: Scenario,
  planner: PlannerChoice,
  template: string,
  options: { timeoutMs?: number } = {},
): Promise<Outcome> {
  const home = await freshHome(template, scenario.name);
  const clock = offsetClock();
  let firstEffectAt: number | null = null;
  let triggeredAt = 0;
  let seededSeq = Number.POSITIVE_INFINITY;
  const crash = { tool: null as string | null, pending: false, happened: false };
  const crashStep = scenario.steps.find((s): s is Extract<Step, { crash_during: string }> => 'crash_during' in s);
  const service = await startService({
    home,
    llm: llmFor(planner, scenario),
    clock,
    // The first side effect the agent started after the trigger: its first mitigation.
    onAudit: (entry) => {
      if (
        firstEffectAt === null &&
        triggeredAt > 0 &&
        entry.kind === 'execution.started' &&
        !READ_ONLY.has(String((entry.data as { tool?: unknown }).tool))
      )
        firstEffectAt = Date.now();
    },
    ...(crashStep
      ? { wrapBackends: crashAfterEffect(crashStep.crash_during, () => void (crash.happened = true)) }
      : {}),
  });
  const runIds = new Set<string>();
  let traffic: TrafficSimulator | null = null;
  const voteRefusals: string[] = [];
  const mcp: Outcome['mcp'] = [];
  let error: string | null = null;
  const deadline = Date.now() + (options.timeoutMs ?? 120_000);
  try {
    await seedLab(service.current.lab, service.current.runtime.gate, scenario);
    if (scenario.lab.traffic) traffic = await startTraffic(service.current.lab, scenario.lab.traffic);
    seededSeq = service.current.runtime.audit.lastSeq();
    const mark = () => void (triggeredAt ||= Date.now());
    for (const step of scenario.steps) {
      if ('crash_during' in step) {
        crash.pending = true;
      } else if ('alertmanager' in step) {
        const startsAt = new Date(clock.now() - 60_000).toISOString();
        for (let i = 0; i < step.alertmanager.times; i++) {
          mark();
          const res = await service.postAlert(webhook(step.alertmanager, startsAt));
          if (res.status !== 202) throw new Error(`the webhook answered ${res.status}: ${JSON.stringify(res.body)}`);
          if (typeof res.body.runId === 'string') runIds.add(res.body.runId);
        }
        if (step.alertmanager.settle) await settle(service, runIds, crash, deadline);
      } else if ('chat' in step) {
        mark();
        runIds.add(
          await service.enqueue({
            kind: 'chat',
            principal: { id: step.chat.as, roles: [] },
            text: step.chat.text,
            data: { question: step.chat.text },
          }),
        );
        await settle(service, runIds, crash, deadline);
      } else if ('schedule' in step) {
        mark();
        const schedule = scheduleFromConfig({
          name: step.schedule.name,
          cron: '0 2 * * *',
          tz: 'UTC',
          runbook: step.schedule.runbook,
          task: step.schedule.task,
          labels: step.schedule.labels,
        } as never);
        runIds.add(await service.enqueue(firing(schedule.trigger, clock.now())));
        await settle(service, runIds, crash, deadline);
      } else if ('mcp' in step) {
        mark();
        mcp.push(await service.mcpCall(step.mcp.client, step.mcp.tool, step.mcp.args));
      } else if ('approve' in step) {
        const { approvals, gate } = service.current.runtime;
        for (const approval of await approvals.list({ status: 'pending' })) {
          const result = await approvals.decide(approval.id, {
            approverId: step.approve.as,
            verdict: step.approve.verdict,
            comment: 'eval',
            via: 'cli',
          });
          if (!result.ok) voteRefusals.push(result.code);
          else if (result.resolved && approval.runId === null && step.approve.verdict === 'grant')
            await gate.executeApproved(approval.id);
        }
        for (const id of runIds)
          if ((await service.current.runtime.runs.get(id))?.status === 'waiting_approval')
            await service.queue.resume(id);
        await settle(service, runIds, crash, deadline);
      } else if ('waitFor' in step) {
        const tool = step.waitFor;
        const seen = async () =>
          (await readAuditEntries(service.current.config.auditFile)).some(
            (e) => e.seq > seededSeq && e.kind === 'execution.started' && (e.data as { tool?: string }).tool === tool,
          );
        while (!(await seen())) {
          if (Date.now() > deadline) throw new Error(`${tool} never started`);
          await new Promise((r) => setTimeout(r, 50));
        }
      } else if ('advance' in step) {
        const [, n, unit] = /^(\d+)([smh])$/.exec(step.advance)!;
        clock.advance(Number(n) * DURATION[unit as keyof typeof DURATION]);
        await service.current.runtime.approvals.expireDue();
        for (const id of runIds)
          if ((await service.current.runtime.runs.get(id))?.status === 'waiting_approval')
            await service.queue.resume(id);
        await settle(service, runIds, crash, deadline);
      }
    }
  } catch (err) {
    error = (err as Error).message;
  }
  await traffic?.stop();
  let auditFile = '';
  try {
    const { runtime, lab, config } = service.current;
    auditFile = config.auditFile;
    const runs = (await Promise.all([...runIds].map((id) => runtime.runs.get(id)))).filter(
      (r): r is Run => r !== undefined,
    );
    const split = (await lab.deployer.getSplit('credit-risk', 'production')) ?? null;
    const aliases: Record<string, string> = {};
    for (const alias of ['champion', 'production']) {
      const v = await lab.registry.resolveAlias('credit-risk', alias).catch(() => undefined);
      if (v) aliases[alias] = v.version;
    }
    const jobs = await listJobs(lab);
    const approvals = await runtime.approvals.list();
    const history = (await lab.deployer.history()).map((h) => ({ action: h.action, split: h.split, by: h.by }));
    await service.close();
    const verified = await verifyAuditFile(auditFile);
    const entries = (await readAuditEntries(auditFile)).filter((e) => e.seq > seededSeq);
    return {
      runs,
      entries,
      firstEffectAt,
      approvals,
      voteRefusals,
      mcp,
      split: split && {
        stableVersion: split.stableVersion,
        canaryVersion: split.canaryVersion,
        canaryPercent: split.canaryPercent,
      },
      aliases,
      history,
      jobs,
      chainOk: verified.ok,
      chainProblem: verified.ok ? null : verified.problem,
      triggeredAt,
      error,
    };
  } finally {
    await service.close().catch(() => undefined);
    await removeHome(home);
  }
}

/** The lab's model server, and requests to it from the dataset's rows (with outcomes fed back, so the canary analysis has labels). */
async function startTraffic(lab: LocalLab, options: { dataset: string; perSecond: number }): Promise<TrafficSimulator> {
  const server = await lab.serve({ host: '127.0.0.1', port: 0 });
  const { rows } = await readDataset(lab.dirs.datasets, options.dataset);
  const simulator = createTrafficSimulator({
    url: server.url,
    model: 'credit-risk',
    environment: 'production',
    rows,
    feedbackDelayMs: 50,
    concurrency: 4,
  });
  simulator.start(options.perSecond);
  return simulator;
}

async function listJobs(lab: LocalLab): Promise<Outcome['jobs']> {
  const { readdir, readFile } = await import('node:fs/promises');
  const { join } = await import('node:path');
  const files = (await readdir(lab.dirs.jobs).catch(() => [] as string[])).filter((f) => f.endsWith('.json'));
  const jobs = await Promise.all(
    files.map(
      async (f) =>
        JSON.parse(await readFile(join(lab.dirs.jobs, f), 'utf8')) as {
          jobId: string;
          dataset: string;
          idempotencyKey: string | null;
          requestedBy: string;
        },
    ),
  );
  return jobs
    .filter((j) => j.requestedBy !== 'eval:seed')
    .map((j) => ({ jobId: j.jobId, dataset: j.dataset, idempotencyKey: j.idempotencyKey }));
}
