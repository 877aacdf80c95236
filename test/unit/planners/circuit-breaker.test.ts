// The LLM planner's circuit breaker: open after repeated failed turns, refusing at once
// for its cool-down, then one probe that closes it or opens it again.
import { describe, expect, it } from 'vitest';
import type { Planner, PlannerInput } from '../../../src/agent/planner.js';
import { ModelBehaviorError, UpstreamError } from '../../../src/errors.js';
import { isShortCircuit, withCircuitBreaker } from '../../../src/planners/index.js';
import { manualClock } from '../../support/manual-clock.js';

const input: PlannerInput = { runId: 'run_1', systemPrompt: 's', transcript: [], tools: [] };

function flaky() {
  const state = {
    down: true,
    asked: 0,
    fault: () => new UpstreamError('openai', 'HTTP 500 (gave up after 4 attempts)', { retryable: true }) as Error,
  };
  const planner: Planner = {
    name: 'openai:llama3.1',
    async next() {
      state.asked++;
      if (state.down) throw state.fault();
      return { kind: 'answer', text: 'ok', usage: { input: 1, output: 1 } };
    },
  };
  return { planner, state };
}

describe('withCircuitBreaker', () => {
  it('opens after the configured failed turns in a row, and then refuses at once without asking the LLM', async () => {
    const clock = manualClock();
    const { planner, state } = flaky();
    const changes: string[] = [];
    const guarded = withCircuitBreaker(planner, {
      failures: 2,
      coolDownMs: 60_000,
      clock,
      onChange: (c) => changes.push(c.state),
    });
    await expect(guarded.next(input)).rejects.toThrow(/HTTP 500/);
    expect(guarded.circuit()).toMatchObject({ state: 'closed', failures: 1 });
    await expect(guarded.next(input)).rejects.toThrow(/HTTP 500/);
    expect(changes).toEqual(['open']);
    expect(guarded.circuit()).toMatchObject({
      state: 'open',
      failures: 2,
      openUntil: '2026-01-01T00:01:00.000Z',
      lastError: expect.stringContaining('HTTP 500'),
    });
    const refused = await guarded.next(input).catch((err: unknown) => err);
    expect(isShortCircuit(refused)).toBe(true);
    expect((refused as Error).message).toMatch(
      /circuit breaker is open after 2 failed turn\(s\) in a row .* until 2026-01-01T00:01:00.000Z turns go to the runbook at once/,
    );
    expect(state.asked).toBe(2);
    expect(guarded.circuit().shortCircuited).toBe(1);
  });

  it('lets one turn probe after the cool-down: success closes it, failure opens it for another', async () => {
    const clock = manualClock();
    const { planner, state } = flaky();
    const changes: string[] = [];
    const guarded = withCircuitBreaker(planner, {
      failures: 1,
      coolDownMs: 10_000,
      clock,
      onChange: (c) => changes.push(c.state),
    });
    await expect(guarded.next(input)).rejects.toThrow(/HTTP 500/);
    clock.advance(10_000);
    await expect(guarded.next(input)).rejects.toThrow(/HTTP 500/);
    expect(guarded.circuit()).toMatchObject({ state: 'open', openUntil: '2026-01-01T00:00:20.000Z' });
    expect(state.asked).toBe(2);
    clock.advance(10_000);
    state.down = false;
    expect(await guarded.next(input)).toMatchObject({ kind: 'answer' });
    expect(guarded.circuit()).toMatchObject({ state: 'closed', failures: 0, openUntil: null });
    expect(changes).toEqual(['open', 'open', 'closed']);
  });

  it('does not count the model misbehaving: only the endpoint failing opens it', async () => {
    const { planner, state } = flaky();
    state.fault = () => new ModelBehaviorError('no such tool');
    const guarded = withCircuitBreaker(planner, { failures: 1, coolDownMs: 10_000, clock: manualClock() });
    await expect(guarded.next(input)).rejects.toThrow(/no such tool/);
    expect(guarded.circuit().state).toBe('closed');
  });

  it('lets one probe through at a time: a turn during the probe is refused', async () => {
    const clock = manualClock();
    let release: () => void = () => undefined;
    let down = true;
    const planner: Planner = {
      name: 'gemini:x',
      next: async () => {
        if (down) throw new UpstreamError('gemini', '503', { retryable: true });
        await new Promise<void>((r) => (release = r));
        return { kind: 'answer', text: 'ok', usage: { input: 0, output: 0 } };
      },
    };
    const guarded = withCircuitBreaker(planner, { failures: 1, coolDownMs: 1000, clock });
    await expect(guarded.next(input)).rejects.toThrow('503');
    clock.advance(1000);
    down = false;
    const probe = guarded.next(input);
    const during = await guarded.next(input).catch((err: unknown) => err);
    expect(isShortCircuit(during)).toBe(true);
    release();
    await expect(probe).resolves.toMatchObject({ kind: 'answer' });
  });
});
