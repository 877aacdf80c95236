import { createLocalRunQueue } from '../../../src/intake/index.js';
import { runQueueContract } from '../../contract/run-queue.contract.js';

runQueueContract('local', {
  make: async (options) => createLocalRunQueue(options),
  destroy: async (q) => {
    await q.close();
  },
});
