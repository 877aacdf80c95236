// Usage mistakes end the same way in every subcommand: a clear message on stderr that says
// where to look, and exit code 2 (commander would exit 1 itself in a subcommand).
import type { Command } from 'commander';
import { paint } from './style.js';

function pathOf(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/** Applies to `cmd` and every subcommand under it: throw instead of exit, hint at --help. */
export function reportUsageErrors(cmd: Command): void {
  cmd
    .exitOverride()
    .showHelpAfterError(`(see: ${pathOf(cmd)} --help)`)
    .configureOutput({ outputError: (text, write) => write(paint.red(text)) });
  for (const sub of cmd.commands) reportUsageErrors(sub);
}
