// The built `mlops-agent serve` over a real socket: one start line, a webhook answered and
// its run executed by the in-process worker, and a clean exit on SIGTERM.
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI } from '../../support/run-cli.js';

const TOKEN = 'serve-command-token-0123456789';

describe('mlops-agent serve (the built command)', () => {
  let home: string;
  beforeAll(async () => {
    home = await mkdtemp(join(tmpdir(), 'mlops-serve-cmd-'));
  });
  afterAll(async () => {
    await rm(home, { recursive: true, force: true });
  });

  it('prints its URL, takes a webhook, runs it, and stops on SIGTERM', async () => {
    const env = {
      PATH: process.env.PATH ?? '',
      HOME: home,
      MLOPS_AGENT_HOME: home,
      MLOPS_AGENT_LOG_LEVEL: 'warn',
      MLOPS_AGENT_LLM: 'runbook',
      MLOPS_AGENT_API_TOKEN: TOKEN,
    };
    const child = spawn(process.execPath, [CLI, 'serve', '--port', '0'], {
      env,
      cwd: home,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    try {
      const url = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no start line; stderr: ${stderr}`)), 30_000);
        child.stdout.on('data', (d: Buffer) => {
          stdout += d.toString();
          const match = /serving on (http:\/\/127\.0\.0\.1:\d+)/.exec(stdout);
          if (match) {
            clearTimeout(timer);
            resolve(match[1]!);
          }
        });
      });
      const auth = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
      const health = await fetch(`${url}/healthz`);
      expect(health.status).toBe(200);
      const chat = await fetch(`${url}/v1/chat`, {
        method: 'POST',
        headers: auth,
        body: JSON.stringify({ text: 'hello' }),
      });
      expect(chat.status).toBe(202);
      const { runId } = (await chat.json()) as { runId: string };
      let status = 'queued';
      for (let i = 0; i < 200 && (status === 'queued' || status === 'running'); i++) {
        await new Promise((r) => setTimeout(r, 50));
        status = ((await (await fetch(`${url}/v1/runs/${runId}`, { headers: auth })).json()) as { status: string })
          .status;
      }
      // No LLM configured: nothing can plan the chat run; it ends needing a person, saying so, and is stored.
      expect(status).toBe('needs_attention');
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
    expect(stdout.match(/Slack is not configured/g)).toHaveLength(1);
  });
});
