// Security controls as an operator meets them in the built command: a token given to two
// principals stops `serve` at start (exit 2, naming both); a data directory others can
// read is warned about; what `serve` writes is private; and an alert whose name carries
// a newline, ANSI codes and a bidi override cannot forge or hide a line in `runs show`,
// `runs list` or `audit tail`.
import { chmod, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { eventually, startCli } from '../support/cli-process.js';
import { runCli } from '../support/run-cli.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});
async function freshDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'mlops-security-e2e-'));
  dirs.push(dir);
  return dir;
}

const TOKEN = 'security-e2e-operator-token-0123';
/** A newline that tries to start a timeline line of its own, colour codes, and a reversed word. */
const FORGED_NAME =
  'DriftCheck\n          ok        rollback: credit-risk production: all traffic back to v1\x1b[8m hidden\x1b[0m \u202eenilkcab';

async function walk(dir: string, rel = ''): Promise<{ path: string; dir: boolean; mode: number }[]> {
  const out: { path: string; dir: boolean; mode: number }[] = [];
  for (const name of await readdir(dir)) {
    const full = join(dir, name);
    const st = await stat(full);
    out.push({ path: `${rel}${name}`, dir: st.isDirectory(), mode: st.mode & 0o777 });
    if (st.isDirectory()) out.push(...(await walk(full, `${rel}${name}/`)));
  }
  return out;
}

describe('security controls in the built mlops-agent command', () => {
  it('refuses to start serve when one token is given to two principals, naming both and not the token', async () => {
    const dir = await freshDir();
    await writeFile(
      join(dir, 'mlops-agent.yaml'),
      `server:\n  tokens:\n    - { token: ${TOKEN}, principal: "user:alice", scopes: [read, approve] }\n`,
    );
    const { code, stdout, stderr } = await runCli(['serve', '--port', '0'], {
      cwd: dir,
      env: { MLOPS_AGENT_HOME: dir, MLOPS_AGENT_API_TOKEN: TOKEN },
    });
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toContain(
      'the same token is given to user:alice (server.tokens.0) and to user:operator (env MLOPS_AGENT_API_TOKEN)',
    );
    expect(stderr).not.toContain(TOKEN);
  });

  it('warns about a home others can read, keeps what it writes private, and prints outside text terminal-safe', async () => {
    const home = await freshDir();
    await chmod(home, 0o755);
    const env = { MLOPS_AGENT_HOME: home, MLOPS_AGENT_API_TOKEN: TOKEN, MLOPS_AGENT_LLM: 'runbook' };
    const p = startCli(['serve', '--port', '0'], { cwd: home, env });
    try {
      const [, url] = await p.line(/serving on (http:\/\/127\.0\.0\.1:\d+)/);
      expect(p.stderr).toContain(`can be read by other users of this machine (mode 755)`);
      expect(p.stderr).toContain(`run chmod 700 ${home}`);
      const posted = await fetch(`${url}/v1/alerts`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: FORGED_NAME, labels: { model: 'credit-risk' }, summary: 'psi \x1b[2J' }),
      });
      expect(posted.status).toBe(202);
      const { runId } = (await posted.json()) as { runId: string };
      await eventually('the run to end', async () => {
        const run = (await (
          await fetch(`${url}/v1/runs/${runId}`, { headers: { authorization: `Bearer ${TOKEN}` } })
        ).json()) as { status: string };
        // No runbook answers this alert and no LLM is configured: it ends for a person to look at.
        return ['queued', 'running'].includes(run.status) ? undefined : run;
      });
    } finally {
      expect(await p.stop()).toBe(0);
    }

    const written = await walk(home);
    expect(written.map((f) => f.path)).toEqual(expect.arrayContaining(['audit.jsonl', 'runs', 'queue', 'lab']));
    expect(
      written.filter((f) => f.mode !== (f.dir ? 0o700 : 0o600)).map((f) => `${f.path} ${f.mode.toString(8)}`),
    ).toEqual([]);

    const unsafe = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;
    for (const args of [
      ['runs', 'show', (await readdir(join(home, 'runs'))).find((n) => n.endsWith('.json'))!.replace(/\.json$/, '')],
      ['runs', 'list'],
      ['audit', 'tail', '-n', '50'],
    ]) {
      const { code, stdout } = await runCli(args, { cwd: home, env });
      expect(code, args.join(' ')).toBe(0);
      expect(stdout, args.join(' ')).not.toMatch(unsafe);
      // No line of the output passes for a timeline item: the forged text stays inside the
      // line that quotes it (or, quoted in an answer, indented under the answer).
      expect(
        stdout.split('\n').some((l) => /^( {8}|\d\d:\d\d:\d\d) {2}ok {8}rollback: credit-risk/.test(l)),
        args.join(' '),
      ).toBe(false);
      expect(stdout, args.join(' ')).toContain('DriftCheck\\n          ok        rollback');
    }
  });
});
