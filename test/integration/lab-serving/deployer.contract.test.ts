import { afterAll } from 'vitest';
import { systemClock } from '../../../src/clock.js';
import { createTrafficSimulator } from '../../../src/backends/local/traffic-simulator.js';
import { deployerContract } from '../../contract/deployer.contract.js';
import { cleanupTraining, createLab, MODEL, shiftedArtifact } from './lab-fixture.js';
import { createStack } from './serving-stack.js';

afterAll(cleanupTraining);

deployerContract('local lab', async () => {
  const lab = await createLab(systemClock);
  const stableVersion = await lab.register(lab.outcome.artifact);
  const goodVersion = await lab.register(lab.outcome.artifact);
  const badVersion = await lab.register(shiftedArtifact(lab.outcome.artifact));
  const unpromotableVersion = await lab.register(lab.outcome.artifact, { promotable: false });
  const stack = await createStack(lab, systemClock);
  await stack.deployer.serve(MODEL, 'production', stableVersion);
  return {
    deployer: stack.deployer,
    model: MODEL,
    environment: 'production',
    stableVersion,
    goodVersion,
    badVersion,
    unpromotableVersion,
    partialPercent: 50,
    startTraffic() {
      const sim = createTrafficSimulator({ url: stack.server.url, model: MODEL, rows: lab.servingRows, feedbackDelayMs: 0, concurrency: 8 });
      sim.start(2500);
      return async () => {
        await sim.stop();
      };
    },
    async cleanup() {
      await stack.close();
      await lab.cleanup();
    },
  };
});
