// `mlops-agent worker`: only consumes the BullMQ run queue. Run as many as needed, on as
// many machines, against one Redis; `serve` takes the webhooks and sets the schedules.
import { Command, InvalidArgumentError } from 'commander';
import type { Config } from '../app/config.js';
import { buildWorker } from '../app/app.js';
import type { Logger } from '../logger.js';
import { redactUrl, startWorking, untilSignalled } from '../app/agent-process.js';

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 64) throw new InvalidArgumentError('an integer from 1 to 64');
  return n;
}

export function workerCommand(deps: { config: () => Config; logger: () => Logger }): Command {
  return new Command('worker')
    .description(
      'execute the runs queued on Redis (BullMQ) by serve and the schedules; start several, on several machines, for more throughput',
    )
    .option(
      '--concurrency <n>',
      'runs this process executes at a time (default worker.concurrency, env MLOPS_AGENT_WORKER_CONCURRENCY, 2)',
      positiveInt,
    )
    .addHelpText(
      'after',
      `
Needs REDIS_URL (or redisUrl), and queue.prefix equal to serve's. Each worker writes its
own audit log (<home>/audit.jsonl, one writer per file): give each worker on one machine
its own MLOPS_AGENT_HOME or MLOPS_AGENT_AUDIT_FILE. With worker.metricsPort (env
MLOPS_AGENT_METRICS_PORT) it serves /metrics, /healthz and /readyz there, with serve's tokens.
SIGTERM stops taking runs and gives active ones worker.shutdownGraceMs to finish; a run
still active then is handed to another worker once its lock (worker.lockDurationMs) lapses.`,
    )
    .action(async (opts: { concurrency?: number }) => {
      const config = deps.config();
      const logger = deps.logger();
      const concurrency = opts.concurrency ?? config.worker.concurrency;
      const app = await buildWorker(config, logger);
      const { agent, metricsServer } = app;

      let handedBack = 0;
      const shutdown = async (why: string) => {
        logger.info({ why, graceMs: config.worker.shutdownGraceMs }, 'worker stopping');
        handedBack = (await app.close(config.worker.shutdownGraceMs)).handedBack.length;
      };
      const done = untilSignalled(logger, shutdown);

      let metricsAt = '';
      try {
        if (metricsServer)
          metricsAt = `; metrics on ${await metricsServer.listen({ port: config.worker.metricsPort!, host: config.server.host })}`;
      } catch (err) {
        // A port in use: report it, and close what is open so the process can end.
        await shutdown('metrics server failed to listen');
        throw err;
      }
      startWorking(agent, concurrency);
      process.stdout.write(
        `mlops-agent worker consuming runs from ${redactUrl(config.redisUrl!)} (prefix ${config.queue.prefix}; ${concurrency} at a time${metricsAt})\n`,
      );
      logger.info({ concurrency, prefix: config.queue.prefix, pid: process.pid }, 'worker started');
      await done;
      // A handed-back run's handler is still pending; it must not go on after the hand-over.
      if (handedBack > 0) process.exit(0);
    });
}
