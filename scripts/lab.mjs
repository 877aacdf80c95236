#!/usr/bin/env node
// `npm run lab`: the whole world in one command. Seeds the lab if it is not (lab init is
// idempotent), starts `mlops-agent lab up`, then `mlops-agent serve` on it, and stops both
// on Ctrl-C. Without MLOPS_AGENT_API_TOKEN it makes one for this home, kept in
// <home>/lab/agent-token (mode 0600): the token curl, MCP clients and
// examples/prometheus/ (credentials_file) use.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const cli = fileURLToPath(new URL('../dist/src/cli/main.js', import.meta.url));
const home = resolve(process.env.MLOPS_AGENT_HOME ?? '.mlops-agent');
const tokenFile = join(home, 'lab', 'agent-token');
const env = { ...process.env, MLOPS_AGENT_HOME: home };
if (!env.MLOPS_AGENT_API_TOKEN) {
  if (!existsSync(tokenFile)) {
    mkdirSync(join(home, 'lab'), { recursive: true, mode: 0o700 });
    writeFileSync(tokenFile, randomBytes(24).toString('hex'), { mode: 0o600 });
  }
  env.MLOPS_AGENT_API_TOKEN = readFileSync(tokenFile, 'utf8').trim();
  process.stdout.write(`API token: in ${tokenFile} (export MLOPS_AGENT_TOKEN=$(cat ${tokenFile}))\n`);
}

const init = spawnSync(process.execPath, [cli, 'lab', 'init'], { env, stdio: 'inherit' });
if (init.status !== 0) process.exit(init.status ?? 1);

const children = [];
let stopping = false;
function stop(code) {
  if (stopping) return;
  stopping = true;
  // serve first, so no run acts on a lab that is going away.
  for (const child of [...children].reverse()) if (child.exitCode === null) child.kill('SIGTERM');
  process.exitCode = code;
}
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => stop(0));

const lab = spawn(process.execPath, [cli, 'lab', 'up', ...process.argv.slice(2)], {
  env,
  stdio: ['ignore', 'pipe', 'inherit'],
});
children.push(lab);
lab.on('exit', (code) => stop(code ?? 1));
let started = false;
lab.stdout.on('data', (chunk) => {
  process.stdout.write(chunk);
  if (started || !String(chunk).includes('Stop with Ctrl-C')) return;
  started = true;
  const serve = spawn(process.execPath, [cli, 'serve'], { env, stdio: 'inherit' });
  children.push(serve);
  serve.on('exit', (code) => stop(code ?? 1));
});
