import { afterAll } from 'vitest';
import { systemClock } from '../../../src/clock.js';
import { createTrafficSimulator } from '../../../src/backends/local/traffic-simulator.js';
import type { CreditRow } from '../../../src/backends/local/credit-schema.js';
import { deployerContract } from '../../contract/deployer.contract.js';
import { cleanupTraining, createLab, fragileArtifact, MODEL, shiftedArtifact, withoutIncome } from './lab-fixture.js';
import { createStack } from './serving-stack.js';

afterAll(cleanupTraining);

deployerContract('local lab', async () => {
  const lab = await createLab(systemClock);
  const stableVersion = await lab.register(lab.outcome.artifact);
  const goodVersion = await lab.register(lab.outcome.artifact);
  const badVersion = await lab.register(shiftedArtifact(lab.outcome.artifact));
  const unpromotableVersion = await lab.register(lab.outcome.artifact, { promotable: false });
  const fragileVersion = await lab.register(fragileArtifact(lab.outcome.artifact));
  const stack = await createStack(lab, systemClock, {
    // TEST_THRESHOLDS as they are: a held canary is analysed again and again, and the
    // analysis allows for its ~300 labels a side (an identical canary fails one well under
    // 0.1% of the time), so the usual -0.05 accuracy bound does not flake. The fragile
    // version fails on score shift (PSI ~1.3) and accuracy (~-0.11) alike.
    watchIntervalMs: 200,
  });
  await stack.deployer.serve(MODEL, 'production', stableVersion);
  const traffic = (rows: CreditRow[]) => () => {
    const sim = createTrafficSimulator({
      url: stack.server.url,
      model: MODEL,
      rows,
      feedbackDelayMs: 0,
      concurrency: 8,
    });
    sim.start(2500);
    return async () => {
      await sim.stop();
    };
  };
  return {
    deployer: stack.deployer,
    model: MODEL,
    environment: 'production',
    stableVersion,
    goodVersion,
    badVersion,
    unpromotableVersion,
    fragileVersion,
    partialPercent: 50,
    startTraffic: traffic(lab.servingRows),
    startShiftedTraffic: traffic(withoutIncome(lab.servingRows)),
    heldAnalysisMs: 1500,
    async cleanup() {
      await stack.close();
      await lab.cleanup();
    },
  };
});
