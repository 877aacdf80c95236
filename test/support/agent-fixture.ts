// An agent wired the way the tests need it: every tool, no fallback planner, the system
// clock and a silent logger unless a test says otherwise. `testAgent` fills these in around
// parts a test already has (a lab gate, a Redis run store); `agentFixture` also builds the
// gate fixture and a file run store in its temp dir.
import { join } from 'node:path';
import { allTools } from '../../tools/index.js';
import { toolSpecs } from '../../tools/tool-schema.js';
import { createAgent, type Agent, type AgentDeps } from '../../src/agent/loop.js';
import type { Planner } from '../../src/agent/planner.js';
import type { Trigger } from '../../src/agent/run.js';
import { createFileRunStore, type RunStore } from '../../src/agent/run-store.js';
import { systemClock } from '../../src/clock.js';
import { silentLogger } from '../../src/logger.js';
import { gateFixture, type GateFixture, type GateFixtureOptions } from './gate-fixture.js';

/** The loop limits most tests run under: generous, so only the test's own limit bites. */
export const testLimits = { maxSteps: 10, maxWallMs: 60_000, maxTokens: 10_000, maxRepeatedCalls: 2 };

export type TestAgentDeps = Pick<AgentDeps, 'gate' | 'audit' | 'runs' | 'plannerFor'> & Partial<AgentDeps>;

export function testAgent(deps: TestAgentDeps): Agent {
  return createAgent({
    tools: toolSpecs(allTools),
    systemPrompt: 'test',
    fallbackFor: () => null,
    limits: testLimits,
    clock: systemClock,
    logger: silentLogger,
    ...deps,
  });
}

export interface AgentFixture {
  fx: GateFixture;
  agent: Agent;
  runs: RunStore;
}

export interface AgentFixtureOptions extends GateFixtureOptions {
  /** One planner for every run, or one chosen per trigger. */
  planner: Planner | AgentDeps['plannerFor'];
  /** Anything of the agent's deps to set or replace; the gate fixture's approvals are used when it has them. */
  agent?: Partial<AgentDeps>;
}

export async function agentFixture(options: AgentFixtureOptions): Promise<AgentFixture> {
  const { planner, agent: overrides = {}, ...gateOptions } = options;
  const fx = await gateFixture(gateOptions);
  const runs = createFileRunStore(join(fx.dir, 'runs'));
  const agent = testAgent({
    gate: fx.gate,
    audit: fx.audit,
    runs,
    plannerFor: typeof planner === 'function' ? planner : () => planner,
    ...(fx.approvals ? { approvals: fx.approvals } : {}),
    ...(options.clock ? { clock: options.clock } : {}),
    ...overrides,
  });
  return { fx, agent, runs };
}

/**
 * Runs `trigger` with a runbook planner alone (it is also its own fallback) on the gate
 * fixture, and lists what it proposed (`name:args`) and how each call ended (`name:status`).
 */
export async function runOnRunbook(fx: GateFixture, runbook: Planner, trigger: Trigger) {
  const agent = testAgent({
    gate: fx.gate,
    audit: fx.audit,
    runs: createFileRunStore(join(fx.dir, 'runs')),
    systemPrompt: '',
    plannerFor: () => runbook,
    fallbackFor: () => runbook,
    limits: { ...testLimits, maxSteps: 20, maxTokens: 1_000 },
  });
  const run = await agent.start(trigger);
  const calls = run.transcript.flatMap((i) =>
    i.kind === 'plan' ? i.calls.map((c) => `${c.name}:${JSON.stringify(c.args)}`) : [],
  );
  const outcomes = run.transcript.flatMap((i) => (i.kind === 'result' ? [`${i.name}:${i.outcome.status}`] : []));
  return { run, calls, outcomes };
}
