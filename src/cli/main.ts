#!/usr/bin/env node
// The mlops-agent command.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Command, CommanderError } from 'commander';
import { loadConfig, type Config } from '../app/config.js';
import { describeError } from '../errors.js';
import { createLogger, type Logger } from '../logger.js';
import { packageVersion } from '../paths.js';
import { EXIT, exitCodeFor } from './exit-codes.js';
import { colorWanted, dim } from './output/style.js';
import { reportUsageErrors } from './output/usage-errors.js';

let cachedConfig: Config | null = null;
let configFile: string | undefined;
/** Set for a command that draws a timeline on a terminal: its full log goes to this file (logger.ts). */
let timelineLogFile: string | undefined;
const TIMELINE_COMMANDS = new Set(['demo', 'chat']);
function config(): Config {
  cachedConfig ??= loadConfig(configFile ? { file: configFile } : {});
  return cachedConfig;
}

const program = new Command('mlops-agent')
  .description(
    'An MLOps agent: retrains models when quality drops, checks data, ships by canary and rolls back,\n' +
      'behind a policy gate, with every step in a tamper-evident audit log.',
  )
  .version(packageVersion, '-V, --version', 'print the version')
  .option('-c, --config <file>', 'config file (default ./mlops-agent.yaml, or MLOPS_AGENT_CONFIG)')
  // Read where colour is decided (output/style.ts); declared so commander accepts it anywhere.
  .option('--no-color', 'no colour or symbols, even on a terminal (also NO_COLOR=1; FORCE_COLOR=1 forces them)')
  .hook('preAction', (cmd, action) => {
    configFile = cmd.opts().config as string | undefined;
    if (TIMELINE_COMMANDS.has(action.name()) && process.stderr.isTTY)
      timelineLogFile = join(config().home, 'logs', `${action.name()}.log`);
  })
  .addHelpText(
    'after',
    `
Exit codes: 0 ok (or the run waits for approval or work); 1 the run failed or was refused;
2 bad usage, input or configuration; 3 the audit log is broken; 4 a system we depend on
(LLM, disk) failed, retry later; 5 the run needs a person's attention (it could not go on).

Environment: MLOPS_AGENT_HOME (data directory, default ./.mlops-agent), GEMINI_API_KEY,
GEMINI_MODEL, GEMINI_BASE_URL, OPENAI_BASE_URL, OPENAI_MODEL, MLOPS_AGENT_LOG_LEVEL,
REDIS_URL, MLOPS_AGENT_QUEUE_PREFIX, MLOPS_AGENT_WORKER_CONCURRENCY, NO_COLOR, FORCE_COLOR.`,
  );

// Pretty logs on a terminal follow the same colour rules as stdout (`--no-color`, NO_COLOR).
const logColor = colorWanted({ argv: process.argv, env: process.env, isTTY: process.stderr.isTTY === true });
const logger = () =>
  createLogger(config().logLevel, { color: logColor, ...(timelineLogFile ? { logFile: timelineLogFile } : {}) });
type Deps = { config: () => Config; logger: () => Logger };
/**
 * Each command's module, loaded when it is asked for: the serving commands pull in the whole
 * app (about a second to load), which `audit verify` or `policy explain` need not pay for.
 * In the order `--help` lists them.
 */
const COMMANDS: Record<string, (deps: Deps) => Promise<Command>> = {
  demo: async (d) => (await import('./demo-command.js')).demoCommand(d),
  chat: async (d) => (await import('./chat-command.js')).chatCommand(d),
  mcp: async (d) => (await import('./mcp-command.js')).mcpCommand(d),
  policy: async () => {
    const { allTools } = await import('../../tools/index.js');
    return (await import('./policy-command.js')).policyCommand({
      tools: () => allTools,
      defaultFiles: () => config().policy.files,
      openState: async (home) => {
        const { openBackendsForReading } = await import('../app/backends.js');
        return { ...(await openBackendsForReading(config(), home)), close: async () => undefined };
      },
    });
  },
  contracts: async () =>
    (await import('./contracts-command.js')).contractsCommand({ defaultFiles: () => config().contracts.files }),
  audit: async (d) =>
    (await import('./audit-command.js')).auditCommand({
      ...d,
      evidenceContext: async () => (await import('../app/evidence-sources.js')).evidenceSources(config()),
    }),
  runs: async () => (await import('./runs-command.js')).runsCommand({ config }),
  approvals: async () => (await import('./approvals-command.js')).approvalsCommand({ config }),
  lab: async (d) => (await import('./lab-command.js')).labCommand(d),
  serve: async (d) => (await import('./serve-command.js')).serveCommand(d),
  worker: async (d) => (await import('./worker-command.js')).workerCommand(d),
};

/**
 * Which commands this command line needs: the one it names, none for --version, or all
 * (--help, `help`, no command, or a name that is not one, which commander then reports).
 */
function commandsAsked(argv: string[]): string[] {
  for (let i = 2; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '-c' || arg === '--config')
      i++; // its value follows
    else if (!arg.startsWith('-')) return Object.hasOwn(COMMANDS, arg) ? [arg] : Object.keys(COMMANDS);
    else if (arg === '-V' || arg === '--version') return [];
    else if (arg === '-h' || arg === '--help') break;
  }
  return Object.keys(COMMANDS);
}

const deps: Deps = { config, logger };
for (const name of commandsAsked(process.argv)) program.addCommand(await COMMANDS[name]!(deps));
reportUsageErrors(program);

// `mlops-agent runs list | head`: the reader has what it wanted; stop quietly, not with a stack.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(EXIT.ok);
  throw err;
});

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    // --help and --version end here with code 0; usage mistakes were already printed.
    process.exitCode = err.exitCode === 0 ? EXIT.ok : EXIT.usage;
  } else {
    process.stderr.write(`mlops-agent: ${describeError(err)}\n`);
    process.exitCode = exitCodeFor(err);
  }
}
if (timelineLogFile && existsSync(timelineLogFile)) process.stderr.write(`${dim(`full log: ${timelineLogFile}`)}\n`);
