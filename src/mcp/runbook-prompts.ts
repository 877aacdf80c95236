// Each runbook in prompts/runbooks as an MCP prompt: its procedure for a client's model,
// with the alert labels its steps read (`alert.labels.X`) as arguments.
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';
import type { Runbook } from '../runbooks/index.js';

const LABEL_REF = /alert\.labels\.([A-Za-z_][A-Za-z0-9_]*)/g;

/** The alert labels a runbook's steps read, in first-use order. */
export function labelsOf(runbook: Runbook): string[] {
  const found = new Set<string>();
  const text = JSON.stringify(runbook.steps);
  for (const match of text.matchAll(LABEL_REF)) found.add(match[1]!);
  return [...found];
}

export function registerRunbookPrompts(mcp: McpServer, runbooks: readonly Runbook[]): void {
  for (const runbook of runbooks) {
    const labels = labelsOf(runbook);
    const argsSchema = Object.fromEntries(
      labels.map((l) => [l, z.string().optional().describe(`the alert's "${l}" label`)]),
    );
    mcp.registerPrompt(
      runbook.id,
      {
        title: runbook.title,
        description: `${runbook.title}. Answers alerts: ${runbook.alerts.join(', ') || '(none)'}.`,
        argsSchema,
      },
      (args: Record<string, string | undefined>) => {
        const given = labels.filter((l) => args[l]).map((l) => `${l}=${args[l]}`);
        const steps = runbook.steps
          .map(
            (s, i) =>
              `${i + 1}. ${'stop' in s ? `stop for a person${s.when ? ` when ${s.when}` : ''}` : `${s.tool}${s.mitigation ? ' (mitigation: do this first)' : ''}`}: ${s.says}`,
          )
          .join('\n');
        const text = [
          `Follow the runbook "${runbook.title}"${given.length ? ` for the alert with labels ${given.join(', ')}` : ''}.`,
          'Every tool call goes through the policy gate; a refused or pending call is an answer, not something to work around.',
          '',
          runbook.guidance,
          '',
          'Steps:',
          steps,
        ].join('\n');
        return {
          description: runbook.title,
          messages: [{ role: 'user' as const, content: { type: 'text' as const, text } }],
        };
      },
    );
  }
}
