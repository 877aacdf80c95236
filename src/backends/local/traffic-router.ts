// Picks the version that serves one request from the deployer's current split: the
// canary with probability canaryPercent / 100, the stable version otherwise. A request the
// stable version answers is also mirrored to each shadow with its share.
import type { Environment, TrafficSplit } from '../../../tools/ports.js';

/** Read synchronously on every request, so the split must be held in memory. */
export interface SplitSource {
  currentSplit(model: string, environment: Environment): TrafficSplit | undefined;
  /** The running shadows and their mirrored shares (absent: none). */
  currentShadows?(model: string, environment: Environment): { version: string; mirrorPercent: number }[];
}

export interface Route {
  version: string;
  role: 'stable' | 'canary';
  /** Shadow versions this request is mirrored to; their answers go to nobody. */
  mirrors: string[];
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
        return { version: split.canaryVersion, role: 'canary', mirrors: [] };
      }
      const shadows = options.splits.currentShadows?.(model, environment) ?? [];
      // One draw for all shadows: two at the same share see the same requests, a fair A/B of two candidates.
      const draw = shadows.length > 0 ? random() * 100 : 100;
      const mirrors = shadows
        .filter((s) => s.version !== split.stableVersion && draw < s.mirrorPercent)
        .map((s) => s.version);
      return { version: split.stableVersion, role: 'stable', mirrors };
    },
  };
}
