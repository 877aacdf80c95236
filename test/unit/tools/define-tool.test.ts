// A tool is defined once: either it runs to its end in `execute`, or it is long-running
// and the gate starts and polls it. A definition with both or neither is refused at load.
import { z } from 'zod';
import { describe, expect, it } from 'vitest';
import { allTools, defineTool, isLongRunning, NO_RISK } from '../../../tools/index.js';

const base = {
  name: 'probe',
  description: 'a test tool',
  input: z.object({}).strict(),
  output: z.object({ ok: z.boolean() }),
  annotations: { readOnly: true, destructive: false, idempotent: true, openWorld: false },
  assessRisk: async () => NO_RISK,
  summarize: () => 'ok',
};
const longParts = {
  handle: z.object({ id: z.string() }),
  start: async () => ({ handle: { id: 'x' }, timeoutMs: 1000 }),
  poll: async () => ({ ok: true }),
  describeWait: () => 'x running',
};

describe('defineTool', () => {
  it('refuses a tool with both execute and start, and one with neither', () => {
    expect(() => defineTool({ ...base, ...longParts, execute: async () => ({ ok: true }) } as never)).toThrow(
      /must define either execute, or start and poll/,
    );
    expect(() => defineTool({ ...base } as never)).toThrow(/must define either execute, or start and poll/);
  });

  it('makes training and canaries the long-running tools, and the rest immediate', () => {
    expect(allTools.filter(isLongRunning).map((t) => t.name)).toEqual(['trigger_retrain', 'deploy_canary']);
    expect(isLongRunning(defineTool({ ...base, ...longParts }))).toBe(true);
  });
});
