// What the built command prints on a terminal (a pseudo-terminal from util-linux `script`)
// against a pipe: colour and symbols only on the terminal, tables with a header, one JSON
// document with -o json, and exit code 2 with a clear message for every usage mistake.
import { execFile } from 'node:child_process';
import { spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openFileAuditLog } from '../../src/audit/index.js';
import { CLI, runCli } from '../support/run-cli.js';

const run = promisify(execFile);
const ESC = '\u001b[';
let home: string;

beforeAll(async () => {
  home = mkdtempSync(join(tmpdir(), 'mlops-cli-output-'));
  mkdirSync(join(home, 'runs'));
  for (const [fixture, id] of [
    ['v1-run-needs-attention.json', 'run_fixture_v1_attention'],
    ['v1-run.json', 'run_fixture_v1'],
  ]) {
    copyFileSync(new URL(`../fixtures/runs/${fixture}`, import.meta.url), join(home, 'runs', `${id}.json`));
  }
  const log = await openFileAuditLog({ file: join(home, 'audit.jsonl') });
  await log.append({
    runId: 'run_fixture_v1',
    principal: 'agent:alerts',
    kind: 'run.started',
    data: { trigger: { text: 'DriftHigh' } },
  });
  await log.close();
});
afterAll(() => rmSync(home, { recursive: true, force: true }));

/** One seeded lab (datasets, two trained champions) for the tests that need one, made on first use. */
let seededLab: Promise<string> | null = null;
function labHome(): Promise<string> {
  seededLab ??= (async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mlops-cli-lab-'));
    const init = await runCli(['lab', 'init'], { env: { MLOPS_AGENT_HOME: dir } });
    expect(init.code, init.stderr).toBe(0);
    return dir;
  })();
  return seededLab;
}
afterAll(async () => {
  if (seededLab) rmSync(await seededLab, { recursive: true, force: true });
});

/** The command under a pseudo-terminal: stdout and stderr are a TTY 120 columns wide. */
async function onTerminal(args: string[], env: Record<string, string> = {}): Promise<string> {
  const command = `stty cols 120; ${process.execPath} ${CLI} ${args.map((a) => `'${a}'`).join(' ')}`;
  const { stdout } = await run('script', ['-qec', command, '/dev/null'], {
    env: { PATH: process.env.PATH ?? '', HOME: home, TERM: 'xterm', MLOPS_AGENT_HOME: home, ...env },
  });
  return stdout;
}

describe('terminal versus pipe', () => {
  it('colours statuses and bolds headers on a terminal, and prints plain text to a pipe', async () => {
    const tty = await onTerminal(['runs', 'list']);
    expect(tty).toContain(`${ESC}1mCREATED`);
    expect(tty).toMatch(/⚠ needs_attention/);
    const piped = await runCli(['runs', 'list'], { env: { MLOPS_AGENT_HOME: home } });
    expect(piped.code).toBe(0);
    expect(piped.stdout).not.toContain(ESC);
    expect(piped.stdout.split('\n')[0]).toMatch(/^CREATED\s+ID\s+STATUS\s+TRIGGER\s+STEPS\s+PLANNER\s+WHAT$/);
    expect(piped.stdout).toMatch(/run_fixture_v1_attention\s+needs_attention\s+alert\s+2\s+runbook:drift-retrain/);
  });

  it('leaves colour off on a terminal with NO_COLOR or --no-color, and forces it on a pipe with FORCE_COLOR', async () => {
    expect(await onTerminal(['runs', 'list'], { NO_COLOR: '1' })).not.toContain(ESC);
    expect(await onTerminal(['runs', 'list', '--no-color'])).not.toContain(ESC);
    const forced = await runCli(['runs', 'list'], { env: { MLOPS_AGENT_HOME: home, FORCE_COLOR: '1' } });
    expect(forced.stdout).toContain(`${ESC}1mCREATED`);
  });

  it('prints pretty logs on a terminal without colour under --no-color, as the rest of the output', async () => {
    const fresh = mkdtempSync(join(tmpdir(), 'mlops-cli-nocolor-'));
    try {
      // A command that logs on a terminal: a second init would train nothing, so a fresh home.
      const tty = await onTerminal(['lab', 'init', '--no-color'], { MLOPS_AGENT_HOME: fresh });
      expect(tty).toContain('INFO: training job started');
      expect(tty).not.toContain(ESC);
    } finally {
      rmSync(fresh, { recursive: true, force: true });
    }
  });

  it('shows a stored run with a symbol per outcome on a terminal and readable skipped steps', async () => {
    const tty = await onTerminal(['runs', 'show', 'run_fixture_v1_attention']);
    expect(tty).toMatch(/✔ ok/);
    const piped = await runCli(['runs', 'show', 'run_fixture_v1_attention'], { env: { MLOPS_AGENT_HOME: home } });
    expect(piped.stdout).not.toContain(ESC);
    expect(piped.stdout).not.toMatch(/skipped \(.* is false\)/);
  });
});

describe('runs show --follow', () => {
  it('prints the new steps of a run under way as they are saved, and ends when the run ends', async () => {
    const file = join(home, 'runs', 'run_follow.json');
    const stored = JSON.parse(readFileSync(new URL('../fixtures/runs/v1-run.json', import.meta.url), 'utf8'));
    const live = {
      ...stored,
      id: 'run_follow',
      status: 'running',
      transcript: stored.transcript.slice(0, 1),
      endedAt: null,
    };
    writeFileSync(file, JSON.stringify(live));
    const child = spawn(process.execPath, [CLI, 'runs', 'show', 'run_follow', '--follow'], {
      env: { PATH: process.env.PATH ?? '', HOME: home, MLOPS_AGENT_HOME: home },
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    await expect.poll(() => out, { timeout: 15_000 }).toContain('following run run_follow (running)');
    // The agent saves the run as it goes (the file store writes whole files).
    writeFileSync(
      file,
      JSON.stringify({
        ...live,
        status: 'succeeded',
        transcript: [
          ...live.transcript,
          { kind: 'note', text: 'a step saved while followed' },
          { kind: 'answer', text: 'done' },
        ],
      }),
    );
    expect(await exited).toBe(0);
    expect(out).toMatch(/note {6}a step saved while followed\n.*answer {4}done\nrun run_follow succeeded/);
    // Written here, not through the store: gone again before the listing tests count runs.
    rmSync(file);
  });
});

describe('runs show --follow on a run that waits', () => {
  it('prints a live line with how far the training job it waits for got, read from the lab', async () => {
    const lab = await labHome();
    const [jobFile] = readdirSync(join(lab, 'lab', 'jobs'));
    const jobId = jobFile!.replace(/\.json$/, '');
    mkdirSync(join(lab, 'runs'), { recursive: true });
    const file = join(lab, 'runs', 'run_waiting.json');
    const stored = JSON.parse(readFileSync(new URL('../fixtures/runs/v1-run.json', import.meta.url), 'utf8'));
    const waiting = {
      ...stored,
      id: 'run_waiting',
      status: 'waiting',
      endedAt: null,
      transcript: [
        stored.transcript[0],
        {
          kind: 'plan',
          text: null,
          calls: [{ id: 'call_1', name: 'trigger_retrain', args: { model: 'credit-risk' } }],
        },
        {
          kind: 'result',
          callId: 'call_1',
          name: 'trigger_retrain',
          outcome: {
            status: 'waiting',
            summary: `training job ${jobId} started`,
            handle: { jobId },
            startedAt: stored.createdAt,
            deadline: stored.createdAt,
          },
        },
      ],
    };
    writeFileSync(file, JSON.stringify(waiting));
    const child = spawn(process.execPath, [CLI, 'runs', 'show', 'run_waiting', '--follow'], {
      env: { PATH: process.env.PATH ?? '', HOME: lab, MLOPS_AGENT_HOME: lab },
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    // Piped, the live line is a plain line whenever what it says changes.
    await expect.poll(() => out, { timeout: 15_000 }).toContain(`waiting   training ${jobId}: 100% (succeeded)`);
    writeFileSync(
      file,
      JSON.stringify({
        ...waiting,
        status: 'succeeded',
        transcript: [...waiting.transcript, { kind: 'answer', text: 'trained' }],
      }),
    );
    expect(await exited).toBe(0);
    expect(out).toMatch(/answer {4}trained\nrun run_waiting succeeded/);
  });
});

describe('listings', () => {
  it('prints exactly one JSON document with -o json, newest first, and JSON lines with -o jsonl', async () => {
    const json = await runCli(['runs', 'list', '-o', 'json'], { env: { MLOPS_AGENT_HOME: home } });
    const runs = JSON.parse(json.stdout) as { id: string; createdAt: string }[];
    expect(runs).toHaveLength(2);
    expect(runs[0]!.createdAt >= runs[1]!.createdAt).toBe(true);
    const empty = await runCli(['runs', 'list', '-o', 'json', '--status', 'waiting'], {
      env: { MLOPS_AGENT_HOME: home },
    });
    expect(JSON.parse(empty.stdout)).toEqual([]);
    const lines = await runCli(['runs', 'list', '-o', 'jsonl', '--limit', '1'], { env: { MLOPS_AGENT_HOME: home } });
    expect(lines.stdout.trim().split('\n')).toHaveLength(1);
    expect(JSON.parse(lines.stdout).id).toBe(runs[0]!.id);
    const tail = await runCli(['audit', 'tail', '-o', 'json'], { env: { MLOPS_AGENT_HOME: home } });
    expect(tail.code).toBe(0);
    expect(JSON.parse(tail.stdout)).toEqual([
      expect.objectContaining({ seq: 1, kind: 'run.started', runId: 'run_fixture_v1' }),
    ]);
  });

  it('pages with --limit and --since, and says there may be more', async () => {
    const one = await runCli(['runs', 'list', '--limit', '1'], { env: { MLOPS_AGENT_HOME: home } });
    expect(one.stdout.trim().split('\n')).toHaveLength(3);
    expect(one.stdout).toContain('the newest 1; older ones with --limit or --since');
    const none = await runCli(['runs', 'list', '--since', '1h'], { env: { MLOPS_AGENT_HOME: home } });
    expect(none.stdout).toBe('no runs\n');
  });
});

describe('usage', () => {
  it('prints the version from package.json', async () => {
    const { code, stdout } = await runCli(['--version']);
    expect(code).toBe(0);
    expect(stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
    // A subcommand's version of a model is --model-version: the program answers --version first.
    const inject = await runCli(['lab', 'inject', 'errors', '--model-version', '2'], {
      env: { MLOPS_AGENT_HOME: home },
    });
    expect(inject.stdout).not.toMatch(/^\d+\.\d+\.\d+/);
    expect(inject.stderr).toContain('is not up: start it with `mlops-agent lab up`');
  });

  it.each([
    [['runs', 'show'], "missing required argument 'id'"],
    [['runs', 'list', '--status', 'bogus'], "argument 'bogus' is invalid"],
    [['runs', 'list', '--limit', '0'], 'expected a positive whole number'],
    [['runs', 'list', '--since', 'yesterday'], 'expected a duration like 30m, 2h or 7d'],
    [['runs', 'list', '-o', 'xml'], "argument 'xml' is invalid. Allowed choices are table, wide, json, jsonl"],
    [['audit', 'tail', '-n', 'x'], 'expected a positive whole number of entries'],
    [['approvals', 'deny', 'apr_x'], "required option '--comment <text>' not specified"],
    [['runs', 'list', '--bogus'], "unknown option '--bogus'"],
    [['bogus'], "unknown command 'bogus'"],
  ])('exits 2 for %j with a clear message and where to look', async (args, message) => {
    const { code, stderr, stdout } = await runCli(args, { env: { MLOPS_AGENT_HOME: home } });
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toContain(message);
    expect(stderr).toMatch(/\(see: mlops-agent.* --help\)/);
  });
});
