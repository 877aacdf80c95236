// The agent loop: ask the planner what next, pass every proposed call through the gate,
// feed the outcomes back, and stop on an answer or a budget. It knows only the Planner
// port and the Gate; models, runbooks and backends are behind them.
import { randomBytes } from 'node:crypto';
import { canonicalJson } from '../audit/index.js';
import type { Clock } from '../clock.js';
import { ModelBehaviorError, UpstreamError, UserError } from '../errors.js';
import { publicMessage } from '../public-message.js';
import type { Logger } from '../logger.js';
import type { AuditAppender, Gate } from '../gate/gate.js';
import { absorbJoined, type JoinedNotice } from './joined-triggers.js';
import { undoesMitigation } from './mitigation.js';
import { toPlannerOutcome } from './parked-calls.js';
import { createParking, type ApprovalLookup } from './parking.js';
import type { CallOutcomeForPlanner, Planner, PlannerTurn, ProposedCall, ToolSpec, TranscriptItem } from './planner.js';
import { createRunEnding } from './run-ending.js';
import { isFinished, RUN_SCHEMA_VERSION, type Run, type Trigger } from './run.js';
import type { RunStore } from './run-store.js';

export type { ApprovalLookup } from './parking.js';

export interface LoopLimits {
  maxSteps: number;
  maxWallMs: number;
  maxTokens: number;
  maxRepeatedCalls: number;
}

export interface AgentDeps {
  gate: Gate;
  audit: AuditAppender;
  runs: RunStore;
  tools: ToolSpec[];
  systemPrompt: string;
  /** The planner a run starts with. */
  plannerFor(trigger: Trigger): Planner;
  /** The runbook planner to fall back to when the LLM fails, if one answers this trigger. */
  fallbackFor(trigger: Trigger): Planner | null;
  /**
   * The mitigation steps of the runbook answering this trigger (e.g. canary-rollback's
   * rollback), as a planner that proposes only them: they run through the gate before any
   * other planning, whatever the planner, and the rest of the run may not undo them.
   */
  mitigationFor?(trigger: Trigger): { runbook: string; planner: Planner } | null;
  limits: LoopLimits;
  /** Approvals the run's parked calls wait on; without it a parked call is never resumed. */
  approvals?: ApprovalLookup;
  clock: Clock;
  logger: Logger;
  /** Called after every persisted change, for live output (the CLI timeline). */
  onEvent?: (run: Run, item: TranscriptItem) => void;
  /** Triggers that joined a run since it was queued, from the `from`-th on (the queue's `joined`). */
  joined?(runId: string, from: number): Promise<JoinedNotice[]>;
  /** Tools that change nothing: a run that used only these ends when its alert resolves. */
  readOnlyTools?: readonly string[];
  /**
   * Tools whose effect is not idempotent (a training job): the same call with the same
   * arguments is executed at most once per run; proposing it again after it started is refused.
   */
  onceOnlyTools?: readonly string[];
  /**
   * What a run does while a long-running call (training, a canary) goes on: `park` frees
   * its worker until a sweep or the completion resumes it (serve, worker); `in_process`
   * (default) waits here, for commands that run one run in one process (chat, demo).
   */
  longWaits?: 'park' | 'in_process';
  /** In-process waits look again at least this often (default 1 s); a completion signal ends a wait sooner. */
  waitPollMs?: number;
}

export function newRunId(clock: Clock): string {
  return `run_${clock.now().toString(36)}_${randomBytes(4).toString('hex')}`;
}

function callKey(name: string, args: unknown): string {
  return `${name}:${canonicalJson(args ?? null)}`;
}

/**
 * Thrown when a run's worker lost it (its queue lock lapsed and another worker took the
 * run over): this driver stops before it writes anything more, leaving the run to the other.
 */
export class RunHandedOver extends Error {
  constructor(runId: string) {
    super(
      `run ${runId} was handed to another worker (this worker's hold on it lapsed); this one stopped without writing more`,
    );
    this.name = 'RunHandedOver';
  }
}

export interface DriveOptions {
  /** Aborted when this worker no longer holds the run (the queue's lock on it was lost). */
  signal?: AbortSignal;
}

export function createAgent(deps: AgentDeps) {
  const { gate, audit, clock, logger, limits } = deps;
  const iso = () => new Date(clock.now()).toISOString();
  // Each run's signal, checked before every write of it and before every call: a driver
  // that lost its run must not overwrite what the worker that took it over records.
  const signals = new WeakMap<Run, AbortSignal>();
  const stillOurs = (run: Run) => {
    if (signals.get(run)?.aborted) throw new RunHandedOver(run.id);
  };
  const runs: RunStore = {
    get: (id) => deps.runs.get(id),
    list: (filter) => deps.runs.list(filter),
    recent: (query) => deps.runs.recent(query),
    async save(run) {
      stillOurs(run);
      await deps.runs.save(run);
    },
  };

  async function push(run: Run, item: TranscriptItem): Promise<void> {
    run.transcript.push(item);
    run.updatedAt = iso();
    await runs.save(run);
    deps.onEvent?.(run, item);
  }

  const { settleOrPark, hasOpen } = createParking({ ...deps, runs, push });

  const isReadOnly = (tool: string) => deps.readOnlyTools?.includes(tool) ?? false;

  const { finish, conclude, mitigated } = createRunEnding({ audit, runs, push, isReadOnly, iso });

  /** Counts proposed calls with the same tool and arguments so far. */
  function timesProposed(run: Run, key: string): number {
    let n = 0;
    for (const item of run.transcript) {
      if (item.kind === 'plan') for (const c of item.calls) if (callKey(c.name, c.args) === key) n++;
    }
    return n;
  }

  function callCount(run: Run): number {
    return run.transcript.reduce((n, item) => n + (item.kind === 'plan' ? item.calls.length : 0), 0);
  }

  /** Audits a turn of calls and adds it to the transcript; the calls it returns carry their ids. */
  async function planned(
    run: Run,
    plannerName: string,
    turn: Extract<PlannerTurn, { kind: 'calls' }>,
    mitigation: boolean,
  ): Promise<ProposedCall[]> {
    // Gemini's calls carry no ids: every proposed call gets its own, stable within the run.
    let n = callCount(run);
    const calls = turn.calls.map((c) => ({ id: `call_${++n}`, name: c.name, args: c.args }));
    const marked = mitigation ? { mitigation: true } : {};
    await audit.append({
      runId: run.id,
      principal: run.trigger.principal.id,
      kind: 'planner.turn',
      data: { planner: plannerName, text: turn.text, calls, ...marked, usage: turn.usage },
    });
    await push(run, { kind: 'plan', text: turn.text, calls, ...marked });
    return calls;
  }

  async function ask(run: Run, planner: Planner, started: number): Promise<PlannerTurn> {
    const controller = new AbortController();
    const remaining = limits.maxWallMs - (clock.now() - started);
    const timer = setTimeout(() => controller.abort(), Math.max(remaining, 1));
    try {
      return await planner.next({
        runId: run.id,
        systemPrompt: deps.systemPrompt,
        transcript: run.transcript,
        tools: deps.tools,
        signal: controller.signal,
      });
    } finally {
      clearTimeout(timer);
    }
  }

  /** Whether a call with this key already started or ran in this run (its outcome is in the transcript). */
  function alreadyStarted(run: Run, key: string): boolean {
    const keys = new Map<string, string>();
    for (const item of run.transcript)
      if (item.kind === 'plan') for (const c of item.calls) keys.set(c.id, callKey(c.name, c.args));
    return run.transcript.some(
      (i) =>
        (i.kind === 'result' || i.kind === 'wait' || i.kind === 'approval') &&
        keys.get(i.callId) === key &&
        (i.outcome.status === 'executed' || i.outcome.status === 'waiting'),
    );
  }

  /** Passes one proposed call through the gate (or refuses a repeat) and records its result. */
  async function callOnce(run: Run, call: ProposedCall): Promise<void> {
    const key = callKey(call.name, call.args);
    let outcome: CallOutcomeForPlanner;
    let recovery: string | undefined;
    if (timesProposed(run, key) > limits.maxRepeatedCalls) {
      const reason = `refused: ${call.name} was already proposed ${limits.maxRepeatedCalls} time(s) with these exact arguments in this run (loop.maxRepeatedCalls); use the earlier result or try something else`;
      await audit.append({
        runId: run.id,
        principal: run.trigger.principal.id,
        kind: 'call.repeated',
        data: { callId: call.id, tool: call.name, args: call.args ?? null },
      });
      outcome = { status: 'refused', reason, ruleId: 'loop.max-repeated-calls' };
    } else if (deps.onceOnlyTools?.includes(call.name) && alreadyStarted(run, key)) {
      const reason = `refused: ${call.name} already ran with these exact arguments in this run; running it again would do it twice (another job, another version). Use its result above`;
      await audit.append({
        runId: run.id,
        principal: run.trigger.principal.id,
        kind: 'call.repeated',
        data: { callId: call.id, tool: call.name, args: call.args ?? null, once: true },
      });
      outcome = { status: 'refused', reason, ruleId: 'loop.once-per-run' };
    } else {
      stillOurs(run);
      const undo = undoesMitigation(run.transcript, call, isReadOnly(call.name));
      if (undo) {
        await audit.append({
          runId: run.id,
          principal: run.trigger.principal.id,
          kind: 'call.undoes_mitigation',
          data: { callId: call.id, tool: call.name, args: call.args ?? null, reason: undo },
        });
        outcome = { status: 'refused', reason: undo, ruleId: 'loop.mitigation-guard' };
      } else {
        // park: a long-running call is started and followed from the transcript, not awaited here.
        const result = await gate.call({
          runId: run.id,
          callId: call.id,
          principal: run.trigger.principal,
          tool: call.name,
          args: call.args,
          park: true,
        });
        outcome = toPlannerOutcome(result);
        recovery = result.recovery;
      }
    }
    await push(run, { kind: 'result', callId: call.id, name: call.name, outcome });
    // An earlier attempt stopped mid-call: the planner is told what its backend said and what was done.
    if (recovery) await push(run, { kind: 'note', text: recovery });
  }

  /**
   * Calls planned before a crash that have no result: each goes to the gate again under its
   * own id, so its idempotency key is the same and a call that had started is answered
   * with how it ended (or that its end is unknown), never executed twice.
   */
  async function finishInterruptedCalls(run: Run): Promise<void> {
    const answered = new Set(run.transcript.flatMap((i) => (i.kind === 'result' ? [i.callId] : [])));
    const unanswered = run.transcript.flatMap((i) =>
      i.kind === 'plan' ? i.calls.filter((c) => !answered.has(c.id)) : [],
    );
    if (unanswered.length === 0) return;
    logger.warn(
      { runId: run.id, calls: unanswered.map((c) => c.id) },
      'resuming calls an earlier attempt planned and did not finish',
    );
    for (const call of unanswered) await callOnce(run, call);
  }

  async function drive(run: Run): Promise<Run> {
    // Time spent parked is not the run's to spend.
    if (run.parkedAt) {
      const waited = Math.max(0, clock.now() - Date.parse(run.parkedAt));
      run.waitedMs = (run.waitedMs ?? 0) + waited;
      run.parkedAt = null;
      await audit.append({
        runId: run.id,
        principal: run.trigger.principal.id,
        kind: 'run.resumed',
        data: { waitedMs: waited },
      });
    }
    // Moves on as the run waits (parked, or here for long-running calls).
    const started = () => Date.parse(run.createdAt) + (run.waitedMs ?? 0);
    await finishInterruptedCalls(run);
    if (await settleOrPark(run)) return run;
    let planner = run.fallback
      ? (deps.fallbackFor(run.trigger) ?? deps.plannerFor(run.trigger))
      : deps.plannerFor(run.trigger);
    const mitigation = deps.mitigationFor?.(run.trigger) ?? null;
    for (;;) {
      // Repeat firings and the resolved notice that joined since the last step.
      const resolved = deps.joined
        ? await absorbJoined(run, {
            joined: deps.joined,
            readOnly: (t) => deps.readOnlyTools?.includes(t) ?? false,
            audit,
            push,
            logger,
          })
        : null;
      if (resolved) return finish(run, 'succeeded', { answer: resolved });
      if (run.steps >= limits.maxSteps)
        return finish(run, 'failed', {
          error: `stopped: the step limit of ${limits.maxSteps} planner turns was reached (loop.maxSteps)`,
        });
      if (clock.now() - started() > limits.maxWallMs)
        return finish(run, 'failed', {
          error: `stopped: the wall-clock budget of ${limits.maxWallMs} ms was used up (loop.maxWallMs)`,
        });
      if (run.usage.input + run.usage.output > limits.maxTokens) {
        return finish(run, 'failed', {
          error: `stopped: the token budget of ${limits.maxTokens} was used up (${run.usage.input} in, ${run.usage.output} out; loop.maxTokens)`,
        });
      }

      stillOurs(run);
      run.steps++;
      // Mitigation first: until its steps are through, the runbook's mitigation planner plans.
      if (mitigation && !run.mitigation) {
        run.planner = mitigation.planner.name;
        let turn: PlannerTurn;
        try {
          turn = await ask(run, mitigation.planner, started());
        } catch (err) {
          turn = {
            kind: 'answer',
            text: `The mitigation steps of runbook ${mitigation.runbook} could not be planned: ${publicMessage(err)}`,
            usage: { input: 0, output: 0 },
            ends: 'failed',
          };
        }
        if (turn.kind === 'answer') {
          await mitigated(run, mitigation.runbook, turn);
          continue;
        }
        const calls = await planned(run, mitigation.planner.name, turn, true);
        for (const call of calls) await callOnce(run, call);
        if (hasOpen(run) && (await settleOrPark(run))) return run;
        continue;
      }
      run.planner = planner.name;
      let turn: PlannerTurn;
      try {
        turn = await ask(run, planner, started());
      } catch (err) {
        if (err instanceof ModelBehaviorError) {
          await push(run, {
            kind: 'note',
            text: `Your last reply could not be used: ${err.message}. Reply again with a valid tool call or a final answer.`,
          });
          continue;
        }
        const fallback = deps.fallbackFor(run.trigger);
        if (err instanceof UpstreamError && fallback && fallback !== planner && !run.fallback) {
          run.fallback = { from: planner.name, reason: err.message };
          logger.warn(
            { runId: run.id, err: err.message, fallback: fallback.name },
            'planner failed; falling back to the runbook',
          );
          await audit.append({
            runId: run.id,
            principal: run.trigger.principal.id,
            kind: 'planner.fallback',
            data: { from: planner.name, to: fallback.name, reason: err.message },
          });
          await push(run, {
            kind: 'note',
            text: `The planner ${planner.name} failed (${err.message}); continuing with ${fallback.name}.`,
          });
          planner = fallback;
          continue;
        }
        // Bad configuration (no LLM, no runbook): nothing can plan until a person fixes it.
        if (err instanceof UserError)
          return finish(run, 'needs_attention', {
            error: `the planner ${planner.name} cannot plan this run: ${publicMessage(err)}`,
          });
        return finish(run, 'failed', { error: `the planner ${planner.name} failed: ${publicMessage(err)}` });
      }
      run.usage = { input: run.usage.input + turn.usage.input, output: run.usage.output + turn.usage.output };

      if (turn.kind === 'answer') {
        await audit.append({
          runId: run.id,
          principal: run.trigger.principal.id,
          kind: 'planner.turn',
          data: {
            planner: planner.name,
            text: turn.text,
            calls: [],
            usage: turn.usage,
            ...(turn.ends ? { ends: turn.ends } : {}),
          },
        });
        return conclude(run, turn);
      }

      const calls = await planned(run, planner.name, turn, false);

      for (const call of calls) await callOnce(run, call);
      if (hasOpen(run) && (await settleOrPark(run))) return run;
    }
  }

  return {
    async start(trigger: Trigger, id: string = newRunId(clock), options: DriveOptions = {}): Promise<Run> {
      const now = iso();
      const run: Run = {
        schemaVersion: RUN_SCHEMA_VERSION,
        id,
        trigger,
        status: 'running',
        planner: deps.plannerFor(trigger).name,
        fallback: null,
        transcript: [],
        steps: 0,
        usage: { input: 0, output: 0 },
        answer: null,
        error: null,
        createdAt: now,
        updatedAt: now,
        endedAt: null,
      };
      if (options.signal) signals.set(run, options.signal);
      await audit.append({
        runId: run.id,
        principal: trigger.principal.id,
        kind: 'run.started',
        data: {
          trigger: {
            kind: trigger.kind,
            text: trigger.text,
            alertName: trigger.alertName ?? null,
            data: trigger.data ?? null,
          },
        },
      });
      await push(run, { kind: 'trigger', trigger: trigger.kind, text: trigger.text, data: trigger.data ?? null });
      return drive(run);
    },
    /** Continues a stored run that is not finished (after a restart or an approval). */
    async resume(id: string, options: DriveOptions = {}): Promise<Run> {
      const run = await runs.get(id);
      if (!run) throw new Error(`no run ${id}`);
      if (isFinished(run.status)) return run;
      if (options.signal) signals.set(run, options.signal);
      run.status = 'running';
      return drive(run);
    },
  };
}

export type Agent = ReturnType<typeof createAgent>;
