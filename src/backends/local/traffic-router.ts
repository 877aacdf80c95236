// Picks the version that serves one request from the deployer's current split: the
// canary with probability canaryPercent / 100, the stable version otherwise.
import type { Environment, TrafficSplit } from '../../../tools/ports.js';

/** Read synchronously on every request, so the split must be held in memory. */
export interface SplitSource {
  currentSplit(model: string, environment: Environment): TrafficSplit | undefined;
}

export interface Route {
  version: string;
  role: 'stable' | 'canary';
}

export interface TrafficRouter {
  /** Undefined when the model is not served in that environment. */
  route(model: string, environment: Environment): Route | undefined;
}

export function createTrafficRouter(options: { splits: SplitSource; random?: () => number }): TrafficRouter {
  const random = options.random ?? Math.random;
  return {
    route(model, environment) {
      const split = options.splits.currentSplit(model, environment);
      if (!split) return undefined;
      if (split.canaryVersion !== null && split.canaryPercent > 0 && random() * 100 < split.canaryPercent) {
        return { version: split.canaryVersion, role: 'canary' };
      }
      return { version: split.stableVersion, role: 'stable' };
    },
  };
}
