#!/usr/bin/env node
// A training command as a team would have one, for the command trainer's tests: it reads
// its argv (no shell between), "trains" by writing one registration file per job under
// --out, and reports on stdout as the command trainer expects. Behaviour by dataset name:
//   slow-N   takes N ms;  fails   exits 2 with a message on stderr;
//   silent   ends without a result line;  run-only  names an MLflow run instead of a version.
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const args = process.argv.slice(2);
const opt = (name) => args[args.indexOf(`--${name}`) + 1];
const out = opt('out');
const dataset = opt('dataset');
const jobId = process.env.MLOPS_AGENT_JOB_ID;
mkdirSync(out, { recursive: true });
writeFileSync(join(out, `${jobId}.argv.json`), JSON.stringify({ argv: args, env: process.env }));
console.log('loading data'); // chatter that is not a report
console.log(JSON.stringify({ progress: 0.25 }));
if (dataset === 'fails') {
  console.error('Traceback: KeyError: "default" column missing');
  process.exit(2);
}
const slow = /^slow-(\d+)$/.exec(dataset);
if (slow) await new Promise((r) => setTimeout(r, Number(slow[1])));
console.log(JSON.stringify({ progress: 0.75 }));
if (dataset === 'silent') process.exit(0);
const version = String(readdirSync(out).filter((f) => f.endsWith('.registered')).length + 1);
writeFileSync(join(out, `${version}.registered`), jobId);
if (dataset === 'run-only') console.log(JSON.stringify({ run_id: `run-${version}` }));
else console.log(JSON.stringify({ version, runId: `run-${version}` }));
