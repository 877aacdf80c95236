// The embedded default (no Redis) killed with runs acknowledged: the one running and the
// one still queued both finish after the next start, under the ids their 202s gave.
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { eventually, startCli, type CliProcess } from '../support/cli-process.js';
import { chatTextReply, startFakeOpenAiServer, type FakeOpenAiServer } from '../support/fake-openai-server.js';

const TOKEN = 'serve-crash-e2e-token-0123456789';
const AUTH = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
const running: CliProcess[] = [];
let home = '';
let llm: FakeOpenAiServer | undefined;

afterAll(async () => {
  for (const p of running) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
  await llm?.close();
  if (home) await rm(home, { recursive: true, force: true });
});

function serve(): CliProcess {
  const env = {
    MLOPS_AGENT_HOME: home,
    MLOPS_AGENT_API_TOKEN: TOKEN,
    MLOPS_AGENT_LLM: 'openai',
    OPENAI_BASE_URL: llm!.baseUrl,
    MLOPS_AGENT_WORKER_CONCURRENCY: '1',
  };
  const p = startCli(['serve', '--port', '0'], { cwd: home, env });
  running.push(p);
  return p;
}

async function chat(url: string, text: string): Promise<string> {
  const res = await fetch(`${url}/v1/chat`, { method: 'POST', headers: AUTH, body: JSON.stringify({ text }) });
  expect(res.status).toBe(202);
  return ((await res.json()) as { runId: string }).runId;
}

describe('mlops-agent serve without Redis, killed with runs acknowledged (the built command)', () => {
  it('runs both the interrupted and the queued run after the next start, under their ids', async () => {
    home = await mkdtemp(join(tmpdir(), 'mlops-serve-crash-'));
    llm = await startFakeOpenAiServer();
    // The first run's answer never comes in time: the process is killed while it waits.
    llm.script({ ...chatTextReply('too late'), delayMs: 60_000 });
    const first = serve();
    const [, url1] = await first.line(/serving on (http:\/\/127\.0\.0\.1:\d+) \(queue: in-process/);
    const a = await chat(url1!, 'which credit-risk version is champion?');
    await eventually('the first run to ask the LLM', async () => (llm!.requests.length === 1 ? true : undefined));
    // One at a time: this one waits in the queue behind the first.
    const b = await chat(url1!, 'is the fraud model drifting?');
    expect((await readdir(join(home, 'queue'))).sort()).toEqual([`${a}.json`, `${b}.json`].sort());
    first.child.kill('SIGKILL');
    await first.exited;

    llm.script(chatTextReply('v1 is champion'), chatTextReply('no drift on fraud'));
    const second = serve();
    const [, url2] = await second.line(/serving on (http:\/\/127\.0\.0\.1:\d+)/);
    const settled = async (runId: string) =>
      eventually(`run ${runId} to finish`, async () => {
        const body = (await (await fetch(`${url2}/v1/runs/${runId}`, { headers: AUTH })).json()) as {
          status: string;
          answer: string | null;
          transcript: { kind: string }[];
        };
        return body.status === 'succeeded' || body.status === 'failed' ? body : undefined;
      });
    const [runA, runB] = [await settled(a), await settled(b)];
    expect(runA).toMatchObject({ status: 'succeeded', answer: 'v1 is champion' });
    expect(runB).toMatchObject({ status: 'succeeded', answer: 'no drift on fraud' });
    // Resumed, not started twice: one trigger each.
    expect(runA.transcript.filter((i) => i.kind === 'trigger')).toHaveLength(1);
    expect(runB.transcript.filter((i) => i.kind === 'trigger')).toHaveLength(1);
    expect(llm.requests).toHaveLength(3);
    // The queue settles a run (and removes its journal entry) just after the run is saved as ended.
    await eventually('the journal to be emptied', async () =>
      (await readdir(join(home, 'queue'))).length === 0 ? true : undefined,
    );
    expect(await second.stop()).toBe(0);
  });
});
