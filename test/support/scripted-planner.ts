// A planner that replays a script of turns, recording what it was shown each time.
import type { Planner, PlannerInput, PlannerTurn } from '../../src/agent/planner.js';

export type ScriptedTurn = PlannerTurn | Error | ((input: PlannerInput) => PlannerTurn);

export function scriptedPlanner(turns: ScriptedTurn[], name = 'scripted'): Planner & { seen: PlannerInput[] } {
  const seen: PlannerInput[] = [];
  let i = 0;
  return {
    name,
    seen,
    async next(input) {
      seen.push({ ...input, transcript: structuredClone(input.transcript) });
      const turn = turns[i++];
      if (turn === undefined) throw new Error(`scripted planner ran out of turns after ${turns.length}`);
      if (turn instanceof Error) throw turn;
      return typeof turn === 'function' ? turn(input) : turn;
    },
  };
}

export const usage = (input = 10, output = 5) => ({ input, output });
export const call = (name: string, args: unknown, text: string | null = null): PlannerTurn => ({
  kind: 'calls',
  text,
  calls: [{ name, args }],
  usage: usage(),
});
export const answer = (text: string): PlannerTurn => ({ kind: 'answer', text, usage: usage() });
