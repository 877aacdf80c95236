// A worker process for the crash-recovery test: `hang` takes a run and never finishes it
// (the test SIGKILLs it); `complete` finishes every run it gets. Lines on stdout tell the test.
import { createBullmqRunQueue } from '../../../src/intake/index.js';

const [mode, connection, prefix, queueName] = process.argv.slice(2);
if (!mode || !connection || !prefix || !queueName) {
  console.error('usage: crash-worker.ts hang|complete <redis-url> <prefix> <queue>');
  process.exit(2);
}

const queue = createBullmqRunQueue({
  connection,
  prefix,
  queueName,
  // Short so the test does not wait BullMQ's production default of 30 s.
  lockDuration: 1000,
  stalledInterval: 500,
  maxStalledCount: 1,
  onError: (runId, err) => console.error(`error ${runId ?? '-'} ${String(err)}`),
});

queue.process(
  async (runId, trigger) => {
    console.log(`picked ${runId} ${trigger?.text ?? '(resume)'}`);
    if (mode === 'hang') await new Promise(() => {});
    console.log(`done ${runId}`);
  },
  { concurrency: 1, onGaveUp: (runId, reason) => console.log(`gave up ${runId}: ${reason}`) },
);
console.log('ready');

process.on('SIGTERM', () => {
  void queue.close().then(() => process.exit(0));
});
