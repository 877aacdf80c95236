// `mlops-agent demo`: a whole incident on the local lab, with no cloud and no API key.
import { Command, Option } from 'commander';
import type { Config } from '../app/config.js';
import { runIncidentDemo, SCENARIOS, type Scenario } from '../demo/incident-demo.js';
import type { Logger } from '../logger.js';
import { EXIT } from './exit-codes.js';

export function demoCommand(deps: { config: () => Config; logger: () => Logger }): Command {
  return new Command('demo')
    .description(
      'run an incident on the embedded lab: train and serve a champion, send traffic, inject drift, and let the agent\n' +
        'answer the alert (check data, retrain, canary, promote or roll back); ends with an audit verify',
    )
    .addOption(
      new Option(
        '--scenario <name>',
        'drift: the data drifted but is valid, the candidate is better and is canaried; bad-canary: income exported in thousands breaks the data contract, so nothing is trained on it; canary-regression: credit history in years passes the contract and the offline gates, fails its canary analysis and is rolled back',
      )
        .choices(SCENARIOS)
        .default('drift'),
    )
    .option(
      '--approve-as <ids>',
      'when the run waits for approval, approve as these comma-separated people (e.g. user:alice,user:carol: an ML lead and a risk officer in the shipped policy), then let it go on',
      (v: string) =>
        v
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean),
    )
    .action(async (opts: { scenario: Scenario; approveAs?: string[] }) => {
      const result = await runIncidentDemo({
        config: deps.config(),
        logger: deps.logger(),
        scenario: opts.scenario,
        ...(opts.approveAs ? { approveAs: opts.approveAs } : {}),
      });
      process.exitCode = result.auditOk && result.run && result.run.status !== 'failed' ? EXIT.ok : EXIT.failed;
    });
}
