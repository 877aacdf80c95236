// Preloaded into a built mlops-agent process (`node --import <this> dist/src/cli/main.js`)
// by the kill-matrix test: it SIGKILLs its own process right after the audit entry named
// by MLOPS_TEST_KILL_AFTER is durable (the fsync that follows its write has returned),
// before the code that wrote it takes another step. No hook in src/: it watches the file
// writes, as a power cut would not care which line it cut after.
//
// MLOPS_TEST_KILL_AFTER: JSON { "kind": "execution.waiting", "tool": "trigger_retrain" };
// `tool` is matched against data.tool, or for `run.parked` against the tools the run waits on.
import { open } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

const target = process.env.MLOPS_TEST_KILL_AFTER ? JSON.parse(process.env.MLOPS_TEST_KILL_AFTER) : null;

/** True when `line` is the audit entry the test waits for. */
function isTarget(line) {
  if (!line.startsWith('{') || !line.includes('"prevHash"')) return false;
  let entry;
  try {
    entry = JSON.parse(line);
  } catch {
    return false;
  }
  if (entry.kind !== target.kind || typeof entry.seq !== 'number') return false;
  const data = entry.data ?? {};
  if (target.kind === 'run.parked') return Array.isArray(data.waits) && data.waits.some((w) => w.tool === target.tool);
  return data.tool === target.tool;
}

if (target) {
  const probe = await open(fileURLToPath(import.meta.url), 'r');
  const proto = Object.getPrototypeOf(probe);
  await probe.close();
  const armed = new WeakSet();
  const write = proto.write;
  proto.write = function (buffer, ...rest) {
    const text = typeof buffer === 'string' ? buffer : Buffer.isBuffer(buffer) ? buffer.toString('utf8') : '';
    if (text && text.split('\n').some(isTarget)) armed.add(this);
    return write.call(this, buffer, ...rest);
  };
  const sync = proto.sync;
  proto.sync = async function (...args) {
    const result = await sync.apply(this, args);
    if (armed.has(this)) {
      process.stderr.write(`kill-after-audit: ${target.kind} of ${target.tool} is durable; SIGKILL ${process.pid}\n`);
      process.kill(process.pid, 'SIGKILL');
      // Never returns: nothing after the durable line may run.
      await new Promise(() => {});
    }
    return result;
  };
}
