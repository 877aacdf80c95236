// `mlops-agent lab`: seed the persistent lab (init), run it with live traffic (up), look at
// what serves (status), and cause an incident on demand (inject).
import { Argument, Command, InvalidArgumentError } from 'commander';
import {
  describeLabRegistry,
  findLabUp,
  INCIDENTS,
  LAB_UP_DEFAULTS,
  openLab,
  seedLab,
  startLabUp,
  type Incident,
  type LabUpRecord,
} from '../app/lab.js';
import type { Config } from '../app/config.js';
import { UpstreamError, UserError } from '../errors.js';
import type { Logger } from '../logger.js';
import { untilSignalled } from '../app/agent-process.js';

/** Canary steps wait for this many requests in the running lab: seconds at the default traffic. */
export const LAB_UP_MIN_REQUESTS_PER_STEP = 20;

function positiveInt(what: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`${what} must be a positive integer`);
    return n;
  };
}

function portNumber(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 65535)
    throw new InvalidArgumentError('a port is an integer from 1 to 65535');
  return n;
}

const print = (line: string) => process.stdout.write(`${line}\n`);

async function refuseWhileUp(home: string, what: string): Promise<void> {
  const up = await findLabUp(home);
  if (up)
    throw new UserError(
      `the lab under ${home} is up (pid ${up.pid}, ${up.control}): ${what} would write beside it; stop \`mlops-agent lab up\` first`,
    );
}

async function control(home: string): Promise<LabUpRecord> {
  const up = await findLabUp(home);
  if (!up)
    throw new UserError(
      `the lab under ${home} is not up: start it with \`mlops-agent lab up\` (after \`mlops-agent lab init\`)`,
    );
  return up;
}

async function callLab(up: LabUpRecord, path: string, body?: unknown): Promise<Record<string, unknown>> {
  let res: Response;
  try {
    res = await fetch(
      `${up.control}${path}`,
      body === undefined
        ? {}
        : {
            method: 'POST',
            headers: { 'content-type': 'application/json', authorization: `Bearer ${up.token}` },
            body: JSON.stringify(body),
          },
    );
  } catch (err) {
    throw new UpstreamError('lab', `the lab at ${up.control} did not answer: ${(err as Error).message}`, {
      retryable: true,
    });
  }
  const json = (await res.json()) as Record<string, unknown>;
  if (res.status === 400) throw new UserError(String(json.error));
  if (!res.ok) throw new UpstreamError('lab', `HTTP ${res.status}: ${String(json.error)}`, { retryable: true });
  return json;
}

interface StatusModel {
  model: string;
  environment: string;
  url: string;
  traffic: string;
  serving: {
    version: string;
    role: string;
    percent: number;
    fault: { errorRate: number; addedLatencyMs: number } | null;
  }[];
  lastKnownGood: string;
  rollout: {
    canaryVersion: string;
    canaryPercent: number;
    targetPercent: number;
    status: string;
    reason: string | null;
  } | null;
  /** Absent from a lab up of an older build. */
  shadows?: {
    version: string;
    mirrorPercent: number;
    verdict: string | null;
    mirroredRequests: number;
    fault: { errorRate: number; addedLatencyMs: number } | null;
  }[];
}

export function labCommand(deps: { config: () => Config; logger: () => Logger }): Command {
  const lab = new Command('lab').description(
    'the persistent lab the agent acts on: seed it, run it with live traffic, look at it, break it on purpose',
  );

  lab
    .command('init')
    .description(
      'seed the lab under the home: datasets, and for a credit model and an FX trading-signal model a trained champion serving production and a trained candidate; a second init changes nothing',
    )
    .action(async () => {
      const config = deps.config();
      await refuseWhileUp(config.home, 'init');
      const opened = await openLab(config, deps.logger());
      try {
        print(`lab init under ${opened.dirs.root}; versions registered in ${describeLabRegistry(opened.serves)}`);
        const changed = await seedLab(opened, print);
        print(
          changed
            ? 'the lab is seeded: run `mlops-agent lab up`, then `mlops-agent serve`'
            : 'nothing to do: the lab was already seeded, and nothing was changed',
        );
      } finally {
        await opened.close();
      }
    });

  lab
    .command('up')
    .description(
      "run the lab: a model server per model on fixed ports, live traffic with delayed labels, the lab's gauges on the control port, until SIGINT or SIGTERM",
    )
    .option('--host <host>', 'address to listen on', LAB_UP_DEFAULTS.host)
    .option(
      '--control-port <n>',
      'the control port: /metrics (drift and quality gauges), /status, /inject, the deployer for serve',
      portNumber,
      LAB_UP_DEFAULTS.ports.control,
    )
    .option('--credit-port <n>', 'the credit-risk model server', portNumber, LAB_UP_DEFAULTS.ports.credit)
    .option('--trading-port <n>', 'the fx-signal model server', portNumber, LAB_UP_DEFAULTS.ports.trading)
    .option('--rate <n>', 'requests a second to each model', positiveInt('--rate'), LAB_UP_DEFAULTS.ratePerSecond)
    .option(
      '--label-delay-ms <n>',
      'how long after its prediction each true outcome comes back',
      positiveInt('--label-delay-ms'),
      LAB_UP_DEFAULTS.labelDelayMs,
    )
    .option(
      '--window-ms <n>',
      'the window the gauges are computed over',
      positiveInt('--window-ms'),
      LAB_UP_DEFAULTS.windowMs,
    )
    .option(
      '--min-requests-per-step <n>',
      'canary requests a step waits for before its analysis (default lab.canary.minRequestsPerStep, else 20)',
      positiveInt('--min-requests-per-step'),
    )
    .action(
      async (opts: {
        host: string;
        controlPort: number;
        creditPort: number;
        tradingPort: number;
        rate: number;
        labelDelayMs: number;
        windowMs: number;
        minRequestsPerStep?: number;
      }) => {
        const config = deps.config();
        const logger = deps.logger();
        await refuseWhileUp(config.home, 'a second lab up');
        const minRequestsPerStep =
          opts.minRequestsPerStep ?? config.lab.canary.minRequestsPerStep ?? LAB_UP_MIN_REQUESTS_PER_STEP;
        const opened = await openLab(config, logger, { minRequestsPerStep });
        let up;
        try {
          up = await startLabUp(
            opened,
            {
              host: opts.host,
              ports: { control: opts.controlPort, credit: opts.creditPort, trading: opts.tradingPort },
              ratePerSecond: opts.rate,
              labelDelayMs: opts.labelDelayMs,
              windowMs: opts.windowMs,
              registry: opened.serves,
            },
            logger,
          );
        } catch (err) {
          await opened.close();
          throw err;
        }
        const done = untilSignalled(logger, async () => {
          await up.close();
          await opened.close();
        });
        print(
          `lab up under ${opened.dirs.root} (pid ${process.pid}); serving versions from ${describeLabRegistry(opened.serves)}`,
        );
        for (const [model, url] of Object.entries(up.record.servers))
          print(`  ${model.padEnd(12)} ${url}/predict  (metrics ${url}/metrics)`);
        print(`  control      ${up.record.control}  (/metrics gauges, /status)`);
        print(
          `  traffic      ${opts.rate} requests/s per model; true outcomes ${opts.labelDelayMs} ms later; canary steps wait for ${minRequestsPerStep} requests`,
        );
        print('serve and workers started now act on this lab. Stop with Ctrl-C.');
        await done;
      },
    );

  lab
    .command('status')
    .description('what each model serves in the running lab, at what share, and any rollout or injected incident')
    .option('-o, --output <format>', 'text or json', 'text')
    .action(async (opts: { output: string }) => {
      const up = await control(deps.config().home);
      const status = (await callLab(up, '/status')) as unknown as { models: StatusModel[] };
      if (opts.output === 'json') {
        print(JSON.stringify({ registry: up.registry ?? { kind: 'local' }, ...status }, null, 2));
        return;
      }
      print(
        `lab up (pid ${up.pid}) since ${up.startedAt}; control ${up.control}; versions from ${describeLabRegistry(up.registry ?? { kind: 'local' })}`,
      );
      for (const m of status.models) {
        print(`${m.model} in ${m.environment} at ${m.url}  traffic: ${m.traffic}; last known good v${m.lastKnownGood}`);
        for (const s of m.serving) {
          const fault = s.fault
            ? `  injected: ${[s.fault.errorRate > 0 ? `${Math.round(s.fault.errorRate * 100)}% errors` : '', s.fault.addedLatencyMs > 0 ? `+${s.fault.addedLatencyMs} ms` : ''].filter(Boolean).join(', ')}`
            : '';
          print(`  v${s.version.padEnd(4)} ${s.role.padEnd(7)} ${String(s.percent).padStart(3)}%${fault}`);
        }
        for (const s of m.shadows ?? [])
          print(
            `  v${s.version.padEnd(4)} shadow  ${String(s.mirrorPercent).padStart(3)}% of stable's requests mirrored, answers nobody; ${s.verdict ?? 'not analysed'} after ${s.mirroredRequests} requests`,
          );
        if (m.rollout)
          print(
            `  rollout: v${m.rollout.canaryVersion} ${m.rollout.status} at ${m.rollout.canaryPercent}% of ${m.rollout.targetPercent}%${m.rollout.reason ? ` (${m.rollout.reason})` : ''}`,
          );
      }
    });

  lab
    .command('inject')
    .description(
      'cause an incident in the running lab now: drift (valid data, moved distribution), bad-data (data breaking its contract), errors or latency on a version; clear ends them all',
    )
    .addArgument(new Argument('<incident>', `one of ${INCIDENTS.join(', ')}`).choices(INCIDENTS))
    .option('--model <name>', 'the model (default credit-risk)')
    // Not --version: that is the program's own option, which commander answers first.
    .option(
      '--model-version <v>',
      'errors, latency: the version to hurt (default: the canary if one serves, else the stable one)',
    )
    .option('--error-rate <share>', 'errors: share of requests that fail, 0 to 1 (default 0.3)', (v: string) => {
      const n = Number(v);
      if (!(n > 0 && n <= 1)) throw new InvalidArgumentError('a share in (0, 1], e.g. 0.3');
      return n;
    })
    .option(
      '--latency-ms <n>',
      'latency: milliseconds added to each request (default 300)',
      positiveInt('--latency-ms'),
    )
    .action(
      async (
        incident: Incident,
        opts: { model?: string; modelVersion?: string; errorRate?: number; latencyMs?: number },
      ) => {
        const up = await control(deps.config().home);
        const { modelVersion, ...rest } = opts;
        const answer = await callLab(up, '/inject', {
          incident,
          ...rest,
          ...(modelVersion !== undefined ? { version: modelVersion } : {}),
        });
        print(String(answer.message));
      },
    );

  return lab;
}
